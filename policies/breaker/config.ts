// The breaker policy's part of a route's config (SPEC §2 `breaker`), and its fixed tuning.
import type { BreakerConfig } from '../../proxy/config/types.ts';

export type { BreakerConfig };

/** The rolling window is kept in this many buckets (opossum's rollingCountBuckets). */
export const BREAKER_BUCKETS = 10;
