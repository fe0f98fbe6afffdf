// Weighted split across a route's backends. A backend with no ready endpoint gets no traffic
// and its share goes to the others (SPEC §2 `backends`).
import type { BackendSet } from '../../runtime/types.ts';
import { OutriderError } from '../../proxy/errors.ts';

export interface WeightedBackend {
  readonly set: BackendSet;
  readonly weight: number;
}

export type BackendChooser = () => BackendSet;

export function weightedChooser(backends: readonly WeightedBackend[], routeName: string): BackendChooser {
  if (backends.length === 1) {
    const only = backends[0]!.set;
    return () => {
      if (only.endpoints().length === 0) throw noReadyBackend(routeName, [only.name]);
      return only;
    };
  }
  return () => {
    let total = 0;
    for (const b of backends) if (b.set.endpoints().length > 0) total += b.weight;
    if (total === 0) throw noReadyBackend(routeName, backends.map((b) => b.set.name));
    let r = Math.random() * total;
    for (const b of backends) {
      if (b.set.endpoints().length === 0) continue;
      r -= b.weight;
      if (r < 0) return b.set;
    }
    // Floating-point edge: r landed exactly on the total.
    for (let i = backends.length - 1; i >= 0; i--) if (backends[i]!.set.endpoints().length > 0) return backends[i]!.set;
    throw noReadyBackend(routeName, backends.map((b) => b.set.name));
  };
}

function noReadyBackend(route: string, names: readonly string[]): OutriderError {
  return new OutriderError('unavailable', `no ready endpoint for route "${route}" (backends: ${names.join(', ')})`, { detail: 'no_endpoint' });
}
