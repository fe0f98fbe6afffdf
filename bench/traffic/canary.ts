// An injected canary regression (an error rate, then a latency regression) must be rolled back
// within `window` + 1 s of the canary crossing `minRequests`. The client notes when the canary's
// minRequests-th answer arrived; /routes says when the rollback happened.
import { load, round, routesStatus, startOutrider, startUpstream } from './harness.ts';
import type { Sample } from './harness.ts';
import type { ScenarioResult } from './result.ts';

const WINDOW_MS = 5_000;
const MIN_REQUESTS = 50;

export async function canaryScenario(): Promise<ScenarioResult> {
  const stable = await startUpstream('stable', 1);
  const flaky = await startUpstream('flaky', 1);
  await flaky.set({ failEvery: 10 });
  const slow = await startUpstream('slow', 20);
  const o = await startOutrider(`
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
upstreams:
  - { name: stable, endpoints: [${stable.origin}] }
  - { name: flaky, endpoints: [${flaky.origin}] }
  - { name: slow, endpoints: [${slow.origin}] }
routes:
  - name: errors
    match: { path: /errors }
    backends: [ { to: stable, weight: 80 }, { to: flaky, weight: 20 } ]
    canary: { backend: flaky, window: ${WINDOW_MS}ms, minRequests: ${MIN_REQUESTS}, maxErrorRateDelta: 1, action: rollback }
  - name: latency
    match: { path: /latency }
    backends: [ { to: stable, weight: 80 }, { to: slow, weight: 20 } ]
    canary: { backend: slow, window: ${WINDOW_MS}ms, minRequests: ${MIN_REQUESTS}, maxP99Ratio: 1.5, action: rollback }
telemetry: { accessLog: false }
`);
  try {
    const errors = await measure('errors', 'flaky');
    const latency = await measure('latency', 'slow');
    const limit = WINDOW_MS + 1_000;
    return {
      scenario: 'canary',
      figures: {
        windowMs: WINDOW_MS,
        minRequests: MIN_REQUESTS,
        'error regression (10% errors): rolled back ms after minRequests': errors.delayMs,
        'error regression: reason': errors.reason,
        'latency regression (1 ms -> 20 ms service): rolled back ms after minRequests': latency.delayMs,
        'latency regression: reason': latency.reason,
        'canary requests answered after the rollback (should be 0 beyond those in flight)': [errors.after, latency.after],
      },
      bars: [
        { name: 'error-rate regression rolled back after crossing minRequests (ms)', value: errors.delayMs, limit: `<= ${limit}`, pass: errors.rolledBack && errors.delayMs <= limit },
        { name: 'latency regression rolled back after crossing minRequests (ms)', value: latency.delayMs, limit: `<= ${limit}`, pass: latency.rolledBack && latency.delayMs <= limit },
      ],
    };
  } finally {
    await o.stop();
  }

  /** Steady load until the canary is rolled back (or 3 windows pass); the delay after minRequests. */
  async function measure(route: string, canary: string): Promise<{ rolledBack: boolean; delayMs: number; reason: string; after: number }> {
    const samples: Sample[] = [];
    const until = Date.now() + 3 * WINDOW_MS;
    let status: Record<string, unknown> = {};
    while (Date.now() < until) {
      samples.push(...await load(`${o.data}/${route}`, 100, 4));
      status = (await routesStatus(o))[route]!['canary'] as Record<string, unknown>;
      if (status['state'] === 'rolled-back') break;
    }
    const rolledBackAt = Date.now() - (status['sinceMs'] as number);
    const canaryAnswers = samples.filter((s) => s.backend === canary);
    const crossedAt = canaryAnswers[MIN_REQUESTS - 1]?.at ?? Infinity;
    const after = canaryAnswers.filter((s) => s.at > rolledBackAt + 50).length;
    return {
      rolledBack: status['state'] === 'rolled-back',
      // Negative when the server judged before the client had read the canary's minRequests-th
      // answer (it judges on outcomes it sees first, once both sides have minRequests).
      delayMs: round(rolledBackAt - crossedAt, 0),
      reason: String(status['reason']),
      after,
    };
  }
}
