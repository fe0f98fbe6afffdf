// Which of a route's backends have their circuit breaker open, followed from the breakers'
// state events (policies/breaker/events.ts), so the split can send their share elsewhere. Kept
// across reloads for as long as the route exists: a breaker kept across a reload does not
// announce its state again, and a new one announces `closed` when it is made.
import type { PolicyEvents } from '../../proxy/events.ts';
import { BREAKER_DISPOSED, BREAKER_STATE } from '../breaker/events.ts';
import type { BreakerDisposedEvent, BreakerStateEvent } from '../breaker/events.ts';

export class OpenBreakers {
  private readonly open = new Set<string>();
  private readonly events: PolicyEvents;
  private readonly onState: (e: BreakerStateEvent) => void;
  private readonly onDisposed: (e: BreakerDisposedEvent) => void;

  constructor(route: string, events: PolicyEvents) {
    this.events = events;
    // Half-open counts as up: the probe that can close the breaker must get traffic to send.
    this.onState = (e) => {
      if (e.route !== route) return;
      if (e.state === 'open') this.open.add(e.backend);
      else this.open.delete(e.backend);
    };
    this.onDisposed = (e) => {
      if (e.route === route) this.open.delete(e.backend);
    };
    events.on(BREAKER_STATE, this.onState);
    events.on(BREAKER_DISPOSED, this.onDisposed);
  }

  has(backend: string): boolean {
    return this.open.size !== 0 && this.open.has(backend);
  }

  /** Called by Persistent when the route is gone. */
  dispose(): void {
    this.events.off(BREAKER_STATE, this.onState);
    this.events.off(BREAKER_DISPOSED, this.onDisposed);
  }
}
