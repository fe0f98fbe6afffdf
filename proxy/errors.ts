// The one catalogue of error codes (SPEC §3). Layers throw OutriderError; one rescue at the
// edge writes the JSON body. Codes are stable and double as metric labels.

export interface ErrorKind {
  readonly status: number;
  readonly retriable: boolean;
  readonly retryAfter?: number;   // seconds, for 503s
}

export const ERRORS = {
  no_route:          { status: 404, retriable: false },
  invalid_request:   { status: 400, retriable: false },
  method_not_allowed:{ status: 405, retriable: false },
  body_too_large:    { status: 413, retriable: false },
  headers_too_large: { status: 431, retriable: false },
  request_timeout:   { status: 408, retriable: false },   // slow request body (limits.bodyTimeout)
  deadline_exceeded: { status: 504, retriable: false },
  unavailable:       { status: 503, retriable: true, retryAfter: 1 },
  overloaded:        { status: 503, retriable: true, retryAfter: 1 },
  bad_gateway:       { status: 502, retriable: true },
  not_found:         { status: 404, retriable: false },    // runtime: unknown model / path
  internal:          { status: 500, retriable: false },
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof ERRORS;

export class OutriderError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retriable: boolean;
  readonly retryAfter: number | undefined;
  /** Finer cause for logs and retry conditions: 'connect', 'reset', 'timeout', 'status', ... */
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { detail?: string; cause?: unknown; retryAfter?: number; status?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    const kind: ErrorKind = ERRORS[code];
    this.name = 'OutriderError';
    this.code = code;
    this.status = opts.status ?? kind.status;
    this.retriable = kind.retriable;
    this.retryAfter = opts.retryAfter ?? kind.retryAfter;
    this.detail = opts.detail;
  }
}

export function isOutriderError(e: unknown): e is OutriderError {
  return e instanceof OutriderError;
}

/** Anything thrown below the edge becomes a catalogued error; unknown throws are `internal` and never leak their message. */
export function toOutriderError(e: unknown): OutriderError {
  if (e instanceof OutriderError) return e;
  return new OutriderError('internal', 'internal error', { cause: e });
}

export function errorBody(err: OutriderError, requestId: string): string {
  return JSON.stringify({ error: { code: err.code, message: err.message, requestId } });
}
