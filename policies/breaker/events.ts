// What the breakers tell telemetry (proxy/telemetry/resilience.ts) and the chaos suite.
export type BreakerState = 'closed' | 'half-open' | 'open';

/** SPEC §6 outrider_breaker_state values. */
export const BREAKER_STATE_VALUE: Readonly<Record<BreakerState, number>> = { closed: 0, 'half-open': 1, open: 2 };

/** A breaker was created (previous: null) or changed state. */
export const BREAKER_STATE = 'breaker.state';
export interface BreakerStateEvent { readonly route: string; readonly backend: string; readonly state: BreakerState; readonly previous: BreakerState | null }

/** A request was refused because the breaker is open (or half-open with its probe in flight). */
export const BREAKER_REJECTED = 'breaker.rejected';
export interface BreakerRejectedEvent { readonly route: string; readonly backend: string }

/** The breaker was dropped by a reload (its route, backend or config changed). */
export const BREAKER_DISPOSED = 'breaker.disposed';
export interface BreakerDisposedEvent { readonly route: string; readonly backend: string }
