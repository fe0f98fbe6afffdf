// Starts the injector process in front of an upstream and drives it over its control API.
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startChild } from '../child.ts';
import type { Child } from '../child.ts';
import type { FaultMode, Fault } from './faults.ts';
import type { InjectorStats } from './proxy.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

/** A fault as sent: probability and per default to 1 and "request". */
export type FaultRequest = FaultMode & { readonly probability?: number; readonly per?: Fault['per'] };

export interface Injector {
  /** Where Outrider's `upstreams:` should point. */
  readonly origin: string;
  readonly control: string;
  readonly child: Child;
  set(fault: FaultRequest): Promise<void>;
  stats(): Promise<InjectorStats>;
  resetStats(): Promise<void>;
  /** Closes the connections held by a stall. */
  release(): Promise<number>;
  stop(): Promise<void>;
}

export async function startInjector(target: string): Promise<Injector> {
  const child = await startChild(MAIN, ['--target', target]);
  const origin = `http://127.0.0.1:${child.announced['port'] as number}`;
  const control = `http://127.0.0.1:${child.announced['control'] as number}`;
  const call = async (method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<unknown> => {
    const r = await request(`${control}${path}`, { method, body: body === undefined ? null : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const out = await r.body.json();
    if (r.statusCode !== 200) throw new Error(`injector ${method} ${path}: ${r.statusCode} ${JSON.stringify(out)}`);
    return out;
  };
  return {
    origin,
    control,
    child,
    set: async (fault) => { await call('PUT', '/fault', fault); },
    stats: async () => await call('GET', '/stats') as InjectorStats,
    resetStats: async () => { await call('POST', '/stats/reset'); },
    release: async () => (await call('POST', '/release') as { released: number }).released,
    stop: () => child.stop(),
  };
}
