// The split's part of the config: a route's weighted backends and its sticky header (SPEC §2
// `backends`, `sticky`).
import type { RouteConfig } from '../../proxy/config/types.ts';

export type SplitConfig = Pick<RouteConfig, 'name' | 'backends' | 'sticky'>;
