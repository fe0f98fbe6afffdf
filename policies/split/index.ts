// The weighted split across a route's backends (SPEC §2 `backends`, `sticky`).
//
// Weights are relative and live (LiveWeights: a canary changes them without a reload). With
// `sticky: {header}`, a request carrying the header goes to the backend its value hashes to by
// weighted rendezvous hashing: the same value keeps the same backend while the weights are
// unchanged, and a weight change moves only the share that must move. Requests without the
// header are spread by smooth weighted round-robin (nginx's): exact shares over any stretch of
// requests, interleaved rather than in bursts, where a random draw would be off by a point or
// two over thousands of requests. A backend that is down (no ready endpoint, or its
// breaker open) gets no traffic; its share goes to the others, and sticky keys of the backends
// still up stay where they are. A backend with weight 0 takes no traffic even when the others
// are down: 0 is an operator's (or a rollback's) decision, not a preference.
import type { BackendSet } from '../../runtime/types.ts';
import type { RequestContext } from '../../proxy/context.ts';
import type { RouteBuild } from '../../proxy/routing.ts';
import { OutriderError } from '../../proxy/errors.ts';
import type { SplitConfig } from './config.ts';
import { backendSeed, hashKey, score } from './rendezvous.ts';
import type { KeyHash } from './rendezvous.ts';
import { LiveWeights } from './weights.ts';
import { OpenBreakers } from './breakers.ts';

export { LiveWeights } from './weights.ts';

/**
 * The route's live weights: one object per route, shared by its split and its canary, kept
 * across reloads while the route's config is unchanged (a changed route starts from its
 * configured weights again).
 */
export function routeWeights(b: RouteBuild): LiveWeights {
  return b.persist(`weights:${b.route.name}`, JSON.stringify(b.route), () => new LiveWeights(b.route.backends));
}

/** The split of a route being built: live weights, and its backends' breakers' state when it has breakers. */
export function routeSplit(b: RouteBuild): Split {
  const route = b.route.name;
  const open = b.route.breaker === null ? null : b.persist(`breakers:${route}`, '', () => new OpenBreakers(route, b.events));
  return createSplit(b.route, { sets: b.backends, weights: routeWeights(b), down: open === null ? undefined : (name) => open.has(name) });
}

export interface SplitOptions {
  /** The backend sets by name. */
  readonly sets: ReadonlyMap<string, BackendSet>;
  /** The route's live weights (shared with its canary); configured weights when not given. */
  readonly weights?: LiveWeights;
  /** Whether a backend is down for reasons other than having no ready endpoint (an open breaker). */
  readonly down?: (backend: string) => boolean;
}

/** One backend's share of the route now, for /routes. */
export interface BackendShare {
  readonly name: string;
  readonly configuredWeight: number;
  /** The weight the split uses now (a canary may have changed it). */
  readonly weight: number;
  readonly up: boolean;
  /** The share of new requests it gets now: its weight among the backends that are up. */
  readonly effectivePercent: number;
}

export interface Split {
  /** The backend this request goes to; throws `unavailable` when no weighted backend is up. */
  choose(ctx: RequestContext): BackendSet;
  shares(): readonly BackendShare[];
  readonly weights: LiveWeights;
}

export function createSplit(cfg: SplitConfig, opts: SplitOptions): Split {
  const weights = opts.weights ?? new LiveWeights(cfg.backends);
  const sets = weights.names.map((n) => {
    const set = opts.sets.get(n);
    // The config loader checked every name; a missing set here is a wiring bug.
    if (set === undefined) throw new Error(`route "${cfg.name}" refers to unknown backend "${n}"`);
    return set;
  });
  const seeds = weights.names.map(backendSeed);
  const down = opts.down;
  const isUp = (i: number): boolean => sets[i]!.endpoints().length > 0 && (down === undefined || !down(weights.names[i]!));
  const header = cfg.sticky?.header ?? null;
  const n = sets.length;
  const w = weights.current;

  // Smooth weighted round-robin: each pick adds every eligible backend's weight to its credit,
  // takes the backend with the most credit and charges it the total.
  const credit = new Array<number>(n).fill(0);
  const byWeight = (): BackendSet => {
    let total = 0;
    let best = -1;
    for (let i = 0; i < n; i++) {
      if (w[i]! <= 0 || !isUp(i)) continue;
      credit[i]! += w[i]!;
      total += w[i]!;
      if (best === -1 || credit[i]! > credit[best]!) best = i;
    }
    if (best === -1) throw noBackendUp(cfg.name, weights);
    credit[best]! -= total;
    return sets[best]!;
  };

  const byKey = (key: KeyHash): BackendSet => {
    let best = -1;
    let bestScore = Infinity;
    for (let i = 0; i < n; i++) {
      if (w[i]! <= 0 || !isUp(i)) continue;
      const s = score(key, seeds[i]!, w[i]!);
      if (s < bestScore) {
        bestScore = s;
        best = i;
      }
    }
    if (best === -1) throw noBackendUp(cfg.name, weights);
    return sets[best]!;
  };

  const choose = (ctx: RequestContext): BackendSet => {
    if (n === 1) {
      if (!isUp(0)) throw noBackendUp(cfg.name, weights);
      return sets[0]!;
    }
    if (header !== null) {
      const v = ctx.req.headers[header];
      const key = Array.isArray(v) ? v.join(',') : v;
      if (key !== undefined && key !== '') return byKey(hashKey(key));
    }
    return byWeight();
  };

  const shares = (): BackendShare[] => {
    const up = sets.map((_, i) => isUp(i));
    let total = 0;
    for (let i = 0; i < n; i++) if (up[i]) total += w[i]!;
    return weights.names.map((name, i) => ({
      name,
      configuredWeight: weights.configured[i]!,
      weight: w[i]!,
      up: up[i]!,
      effectivePercent: total === 0 || !up[i] ? 0 : (w[i]! / total) * 100,
    }));
  };

  return { choose, shares, weights };
}

function noBackendUp(route: string, weights: LiveWeights): OutriderError {
  const weighted = weights.names.filter((_, i) => weights.current[i]! > 0);
  return new OutriderError('unavailable', `no backend of route "${route}" can take traffic now (weighted: ${weighted.join(', ') || 'none'}; each has no ready endpoint or an open breaker)`, { detail: 'no_endpoint' });
}
