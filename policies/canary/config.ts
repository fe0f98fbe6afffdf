// The canary's part of the config (SPEC §2 `canary`), with the route's split it steers.
import type { RouteConfig } from '../../proxy/config/types.ts';

export type CanaryPolicyConfig = NonNullable<RouteConfig['canary']>;
