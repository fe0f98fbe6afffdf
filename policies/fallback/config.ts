// The fallback policy's part of a route's config (SPEC §2 `fallback`, `attemptTimeout`).
import type { FallbackStep } from '../../proxy/config/types.ts';

export type { FallbackStep };

/**
 * With a fallback and no attemptTimeout, the primary path (its retries included) may spend this
 * share of the budget left when the request reaches the route; the rest is the fallback's
 * (SPEC §2 attemptTimeout: "75% of it when a fallback is set").
 */
export const PRIMARY_SHARE = 0.75;
