// The shadow's part of the config (SPEC §2 `shadow`).
import type { RouteConfig } from '../../proxy/config/types.ts';

export type ShadowPolicyConfig = NonNullable<RouteConfig['shadow']>;
