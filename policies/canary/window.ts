// One side's outcomes (the canary's, or the rest of the route's) over a sliding window: a ring
// of buckets, each with its request and error counts and an HdrHistogram of latencies, so the
// window slides by one bucket at a time and the p99 is read from the merged buckets.
import { build } from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';

const BUCKETS = 10;

export interface WindowSummary {
  readonly requests: number;
  readonly errors: number;
  /** 0 when there is no request. */
  readonly p99Ms: number;
}

interface Bucket {
  /** floor(time / bucketMs) of the period it holds; -1 when empty. */
  period: number;
  requests: number;
  errors: number;
  readonly latencies: Histogram;
}

function histogram(): Histogram {
  // Microseconds, two significant digits (1% resolution), up to an hour.
  return build({ bitBucketSize: 32, numberOfSignificantValueDigits: 2, lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, autoResize: false });
}

export class SlidingWindow {
  private readonly bucketMs: number;
  private readonly ring: Bucket[];
  private readonly merged = histogram();

  /** The window covers the last `windowMs`, give or take one bucket (a tenth of it). */
  constructor(windowMs: number) {
    this.bucketMs = Math.max(1, windowMs / BUCKETS);
    this.ring = Array.from({ length: BUCKETS }, () => ({ period: -1, requests: 0, errors: 0, latencies: histogram() }));
  }

  record(ms: number, error: boolean, now: number): void {
    const period = Math.floor(now / this.bucketMs);
    const b = this.ring[period % BUCKETS]!;
    if (b.period !== period) {
      b.period = period;
      b.requests = 0;
      b.errors = 0;
      b.latencies.reset();
    }
    b.requests++;
    if (error) b.errors++;
    b.latencies.recordValue(Math.min(3_600_000_000, Math.max(1, Math.round(ms * 1000))));
  }

  summary(now: number): WindowSummary {
    const period = Math.floor(now / this.bucketMs);
    let requests = 0;
    let errors = 0;
    this.merged.reset();
    for (const b of this.ring) {
      if (b.period <= period - BUCKETS || b.period > period) continue;
      requests += b.requests;
      errors += b.errors;
      this.merged.add(b.latencies);
    }
    return { requests, errors, p99Ms: requests === 0 ? 0 : this.merged.getValueAtPercentile(99) / 1000 };
  }

  clear(): void {
    for (const b of this.ring) {
      b.period = -1;
      b.requests = 0;
      b.errors = 0;
      b.latencies.reset();
    }
  }
}
