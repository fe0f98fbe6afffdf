// Checks several scenarios state the same way.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sample } from './load.ts';
import { proxySide } from './outrider.ts';
import type { Running } from './outrider.ts';
import { maxOf, ms } from './samples.ts';
import type { ScenarioRun } from './scenario.ts';

/**
 * Criterion `key`: no request hung, none took longer than `limitMs` (client-seen). When some did,
 * the observation adds what Outrider's access log says of them, to tell a proxy that held them
 * from a machine too busy to deliver the answer in time.
 */
export async function checkNoHang(r: ScenarioRun, o: Running, samples: readonly Sample[], limitMs: number, key = 'noHang'): Promise<void> {
  const late = samples.filter((s) => s.hung || s.latencyMs > limitMs);
  const max = ms(maxOf(samples.map((s) => s.latencyMs)));
  if (late.length === 0) {
    r.check(key, true, `0 of ${samples.length} hung or over ${limitMs} ms; max ${max}`);
    return;
  }
  // The access log reaches stdout within 200 ms.
  await sleep(300);
  r.check(key, false, `${late.length} of ${samples.length} hung (${late.filter((s) => s.hung).length}) or over ${limitMs} ms; max ${max}; proxy side: ${proxySide(o, late.map((s) => s.id))}`);
}
