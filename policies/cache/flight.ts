// Request coalescing (single flight): the first request for a key leads, identical requests
// arriving meanwhile wait for its outcome instead of reaching the model.
//
// What waiters get from the leader:
//   'entry'  the leader's complete answer (stored, or a deterministic one such as a 4xx or a
//            fallback's): each waiter replies with its own copy.
//   'pass'   an answer that cannot be shared (no-store, private, too large): each waiter
//            makes its own attempt.
//   'retry'  the leader failed, or its client left and cancelled it: waiters are not failed
//            with it; the first to resume becomes the new leader and the rest wait for that one.

export type Outcome =
  | { readonly kind: 'entry'; readonly entry: Buffer; readonly stale: boolean; readonly degraded: 'stale-cache' | 'fallback' | 'static' | null }
  | { readonly kind: 'pass' }
  | { readonly kind: 'retry' };

const RETRY: Outcome = Object.freeze({ kind: 'retry' });

export class Flight {
  readonly done: Promise<Outcome>;
  private resolveDone!: (o: Outcome) => void;

  constructor() {
    this.done = new Promise((resolve) => { this.resolveDone = resolve; });
  }

  settle(o: Outcome): void {
    this.resolveDone(o);
  }
}

export class Flights {
  private readonly map = new Map<string, Flight>();

  get(key: string): Flight | undefined {
    return this.map.get(key);
  }

  /** Registers the caller as the leader for `key` (the caller checked there was none). */
  lead(key: string): Flight {
    const f = new Flight();
    this.map.set(key, f);
    return f;
  }

  /** Ends a flight: it is removed first, so a waiter resuming on 'retry' finds no leader and takes over. */
  end(key: string, flight: Flight, outcome: Outcome): void {
    if (this.map.get(key) === flight) this.map.delete(key);
    flight.settle(outcome);
  }

  fail(key: string, flight: Flight): void {
    this.end(key, flight, RETRY);
  }

  get size(): number {
    return this.map.size;
  }
}

/** Waits for `p` unless the request is aborted first (its client left, its deadline passed). */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}
