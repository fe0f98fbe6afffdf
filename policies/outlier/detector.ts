// Passive outlier detection for one backend (Envoy's consecutive-5xx detector): an endpoint that
// fails `consecutiveFailures` times in a row is taken out of rotation (EndpointPicker.ejected)
// for ejectFor × the times it was ejected recently, capped; one success resets its streak. At
// most half of the backend's ready endpoints are out at once (floor(n/2): a lone endpoint is never
// ejected), so ejection never turns a partial outage into a whole one.
import type { EndpointPicker } from '../../proxy/balance.ts';
import type { PolicyEvents } from '../../proxy/events.ts';
import type { BackendSet } from '../../runtime/types.ts';
import { MAX_EJECTION_MS } from './config.ts';
import type { OutlierConfig } from './config.ts';
import { OUTLIER_EJECTED, OUTLIER_RETURNED } from './events.ts';
import type { OutlierEjectedEvent, OutlierReturnedEvent } from './events.ts';

interface Ejection {
  /** Recent ejections; one is forgiven per ejectFor spent back in rotation (Envoy's multiplier decay). */
  times: number;
  until: number;
  returnedAt: number;
  timer: NodeJS.Timeout | null;
}

export interface EjectedStatus { readonly endpoint: string; readonly remainingMs: number; readonly times: number }

export class OutlierDetector {
  readonly backend: string;
  readonly cfg: OutlierConfig;
  private readonly set: BackendSet;
  private readonly picker: EndpointPicker;
  private readonly events: PolicyEvents;
  private readonly streaks = new Map<string, number>();
  private readonly ejections = new Map<string, Ejection>();
  private readonly maxMs: number;

  constructor(backend: string, cfg: OutlierConfig, set: BackendSet, picker: EndpointPicker, events: PolicyEvents) {
    this.backend = backend;
    this.cfg = cfg;
    this.set = set;
    this.picker = picker;
    this.events = events;
    this.maxMs = Math.max(cfg.ejectFor, MAX_EJECTION_MS);
  }

  success(endpoint: string): void {
    if (this.streaks.size !== 0) this.streaks.delete(endpoint);
  }

  failure(endpoint: string, now = performance.now()): void {
    // An ejected endpoint only gets traffic when every endpoint is out; it is already counted.
    if (this.picker.ejected.has(endpoint)) return;
    const streak = (this.streaks.get(endpoint) ?? 0) + 1;
    this.streaks.set(endpoint, streak);
    if (streak >= this.cfg.consecutiveFailures) this.eject(endpoint, now);
  }

  ejected(now = performance.now()): EjectedStatus[] {
    const out: EjectedStatus[] = [];
    for (const [endpoint, e] of this.ejections) {
      if (e.timer !== null) out.push({ endpoint, remainingMs: Math.max(0, Math.round(e.until - now)), times: e.times });
    }
    return out;
  }

  /** Called by Persistent when a reload drops or changes the detector: everything returns. */
  dispose(): void {
    for (const [endpoint, e] of this.ejections) if (e.timer !== null) this.restore(endpoint, e);
    this.ejections.clear();
    this.streaks.clear();
  }

  private eject(endpoint: string, now: number): void {
    const ready = this.set.endpoints();
    let out = 0;
    for (const e of ready) if (this.picker.ejected.has(e.id)) out++;
    // Never more than half of the set; the streak stays, so it is ejected once room is made.
    if (out + 1 > Math.floor(ready.length / 2)) return;
    let e = this.ejections.get(endpoint);
    if (e === undefined) {
      e = { times: 0, until: 0, returnedAt: now, timer: null };
      this.ejections.set(endpoint, e);
    }
    const forgiven = Math.floor((now - e.returnedAt) / this.cfg.ejectFor);
    e.times = Math.max(0, e.times - forgiven) + 1;
    const ms = Math.min(this.cfg.ejectFor * e.times, this.maxMs);
    e.until = now + ms;
    const entry = e;
    e.timer = setTimeout(() => this.restore(endpoint, entry), ms);
    e.timer.unref();
    this.streaks.delete(endpoint);
    this.picker.ejected.add(endpoint);
    this.events.emit(OUTLIER_EJECTED, { backend: this.backend, endpoint, ejectForMs: ms, times: e.times } satisfies OutlierEjectedEvent);
  }

  private restore(endpoint: string, e: Ejection): void {
    if (e.timer !== null) clearTimeout(e.timer);
    e.timer = null;
    e.returnedAt = performance.now();
    this.picker.ejected.delete(endpoint);
    this.events.emit(OUTLIER_RETURNED, { backend: this.backend, endpoint } satisfies OutlierReturnedEvent);
  }
}
