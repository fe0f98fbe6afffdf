// A runtime's output line as a log record. ONNX workers (and many servers) log pino/JSON
// lines; those keep their level and fields instead of being nested as a string.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogRecord {
  readonly level: LogLevel;
  readonly fields: Record<string, unknown>;
  readonly msg: string;
}

// pino's numeric levels: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
function levelOf(value: unknown): LogLevel {
  if (typeof value === 'string' && ['debug', 'info', 'warn', 'error'].includes(value)) return value as LogLevel;
  if (typeof value !== 'number') return 'info';
  if (value < 30) return 'debug';
  if (value < 40) return 'info';
  return value < 50 ? 'warn' : 'error';
}

/** Plain text is an info record with no extra fields. */
export function toLogRecord(line: string): LogRecord {
  if (!line.startsWith('{') || !line.endsWith('}')) return { level: 'info', fields: {}, msg: line };
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { level: 'info', fields: {}, msg: line };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { level: 'info', fields: {}, msg: line };
  // time and hostname are the supervisor's to write; the child's pid must not pass for Outrider's.
  const { level, msg, time: _time, hostname: _hostname, pid, ...fields } = parsed as Record<string, unknown>;
  if (pid !== undefined) fields.childPid = pid;
  return { level: levelOf(level), fields, msg: typeof msg === 'string' ? msg : '' };
}
