// The retry budget (Linkerd's and Finagle's RetryBudget, Envoy's retry_budget): over a sliding
// window, retries may be at most `percent`% of the route's requests, or the floor when that is
// larger. A failing backend then sees at most (1 + percent/100) times its normal load, never a
// retry storm. Buckets rotate lazily on use: no timer per route.
import { RETRY_TUNING } from './config.ts';

export interface BudgetSnapshot {
  readonly windowMs: number;
  readonly requests: number;
  readonly retries: number;
  /** Retries the window allows now (a retry is admitted while retries < allowed). */
  readonly allowed: number;
}

export class RetryBudget {
  private readonly ratio: number;
  private readonly floor: number;
  private readonly bucketMs: number;
  private readonly requests: Uint32Array;
  private readonly retries: Uint32Array;
  private totalRequests = 0;
  private totalRetries = 0;
  /** Absolute index (time / bucketMs) of the newest bucket; far enough back that the first use clears them all. */
  private head = -Infinity;

  constructor(percent: number, tuning: { windowMs: number; buckets: number; minRetriesPerSecond: number } = RETRY_TUNING) {
    this.ratio = percent / 100;
    this.floor = tuning.minRetriesPerSecond * (tuning.windowMs / 1000);
    this.bucketMs = tuning.windowMs / tuning.buckets;
    this.requests = new Uint32Array(tuning.buckets);
    this.retries = new Uint32Array(tuning.buckets);
  }

  /** Every request the route takes deposits into the budget, whether or not it may be retried. */
  onRequest(now: number): void {
    const slot = this.advance(now);
    this.requests[slot]!++;
    this.totalRequests++;
  }

  /** Withdraws one retry when the window allows it. */
  tryRetry(now: number): boolean {
    const slot = this.advance(now);
    if (this.totalRetries + 1 > this.allowed()) return false;
    this.retries[slot]!++;
    this.totalRetries++;
    return true;
  }

  snapshot(now: number): BudgetSnapshot {
    this.advance(now);
    return { windowMs: this.bucketMs * this.requests.length, requests: this.totalRequests, retries: this.totalRetries, allowed: Math.floor(this.allowed()) };
  }

  private allowed(): number {
    return Math.max(this.floor, this.ratio * this.totalRequests);
  }

  /** Expires the buckets older than the window; returns the slot of `now`. */
  private advance(now: number): number {
    const n = this.requests.length;
    const index = Math.floor(now / this.bucketMs);
    if (index !== this.head) {
      // Clears the buckets of the times between the last use and now (all of them after a window).
      const steps = Math.min(index - this.head, n);
      for (let k = 0; k < steps; k++) {
        const slot = (((index - k) % n) + n) % n;
        this.totalRequests -= this.requests[slot]!;
        this.totalRetries -= this.retries[slot]!;
        this.requests[slot] = 0;
        this.retries[slot] = 0;
      }
      this.head = index;
    }
    return index % n;
  }
}
