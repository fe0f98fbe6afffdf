// What the retry policy tells telemetry (proxy/telemetry/resilience.ts) and the chaos suite.
// Payloads carry config names and fixed words only.

/** A retry was sent. `reason`: connect | reset | timeout | the HTTP status, e.g. "503". */
export const RETRY = 'retry';
export interface RetryEvent { readonly route: string; readonly reason: string }

/** A retriable failure was not retried: the budget was spent, or too little of the deadline was left. */
export const RETRY_SKIPPED = 'retry.skipped';
export interface RetrySkippedEvent { readonly route: string; readonly reason: 'budget' | 'deadline' }
