// JSON logs with pino: one access-log line per request, and the process's own events.
import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  // Asynchronous stdout: an access-log line must not cost a write(2) on the request path.
  const dest = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  const logger = pino({ level, base: { svc: 'outrider' }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  flushOnExit(dest);
  // Bounded staleness: lines reach stdout within 200 ms even at a trickle of traffic.
  setInterval(() => {
    try { dest.flush(); } catch { /* closed at exit */ }
  }, 200).unref();
  return logger;
}

function flushOnExit(dest: ReturnType<typeof pino.destination>): void {
  process.once('exit', () => {
    try { dest.flushSync(); } catch { /* stdout already gone */ }
  });
}
