// The split policy's part of the config: a route's weighted backends (SPEC §2 `backends`).
import type { RouteConfig } from '../../proxy/config/types.ts';

export type SplitConfig = Pick<RouteConfig, 'backends'>;
