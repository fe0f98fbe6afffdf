// Outlier ejection's config: an upstream's `outlier` (SPEC §2), and what runtime replicas get,
// since the SPEC gives runtimes no such key (docs/resilience.md says why they get one anyway).
import type { Config, OutlierConfig } from '../../proxy/config/types.ts';

export type { OutlierConfig };

/** Runtime replicas: a replica failing 5 times in a row is left out for 10 s (then 20 s, 30 s, ...). */
export const RUNTIME_OUTLIER: OutlierConfig = Object.freeze({ consecutiveFailures: 5, ejectFor: 10_000 });

/** Repeat offenders' ejections grow up to this (Envoy's max_ejection_time), or to ejectFor when longer. */
export const MAX_EJECTION_MS = 300_000;

/** The outlier config of a backend: its upstream's `outlier`, the runtime default, or null (none). */
export function outlierConfigFor(config: Config, backend: string): OutlierConfig | null {
  const upstream = config.upstreams.find((u) => u.name === backend);
  if (upstream !== undefined) return upstream.outlier;
  return config.runtimes.some((r) => r.name === backend) ? RUNTIME_OUTLIER : null;
}
