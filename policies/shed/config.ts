// The route's own concurrency limit (route key `maxConcurrent`, an Outrider addition to SPEC §2).
import type { RouteConfig } from '../../proxy/config/types.ts';

export type ShedConfig = Pick<RouteConfig, 'maxConcurrent'>;
