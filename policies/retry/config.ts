// The retry policy's part of a route's config (SPEC §2 `retry`), and the tuning that is not in
// the YAML. The numbers are documented in docs/resilience.md; tests read them from here.
import type { RetryConfig } from '../../proxy/config/types.ts';

export type { RetryConfig };

export const RETRY_TUNING = {
  /**
   * The budget's sliding window. Shorter than Linkerd's 10 s on purpose: the credit a sudden
   * outage can draw from the healthy traffic before it is one window's worth, and 2 s keeps that
   * under 1 percentage point of a one-minute outage at a 20% budget (0.2 × 2 / 60).
   */
  windowMs: 2_000,
  buckets: 20,
  /** The floor (Envoy's min_retry_concurrency, Linkerd's min_retries_per_second): quiet routes still retry. */
  minRetriesPerSecond: 10,
  /** Full-jitter exponential backoff, Envoy's defaults: the nth retry waits U(0, min(250, 25·2ⁿ⁻¹)) ms. */
  baseBackoffMs: 25,
  maxBackoffMs: 250,
  /** No retry starts with less budget than this: it could not get an answer back in time. */
  minAttemptMs: 10,
} as const;
