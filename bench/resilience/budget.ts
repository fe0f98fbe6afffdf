// (c) Retries against their budget over a failure window: a route retrying 503s up to 3 times
// with a 20% budget, at a constant rate; healthy first, then the upstream answers 503 to
// everything for the window (60 s; 10 s with --quick). Retries during the window (the
// outrider_retries_total delta) over the requests sent in it must stay within budget + 1 pp.
// Without the budget the backend would get 3 retries per request (300%).
import { openLoop, round } from './load.ts';
import { startProxy } from './outrider.ts';
import type { ScenarioResult } from './result.ts';
import { switchable } from './upstreams.ts';

const BUDGET = 20;
const RATE = 100;

export async function budgetScenario(quick: boolean): Promise<ScenarioResult> {
  const up = await switchable(200);
  const proxy = await startProxy(`version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
telemetry: { accessLog: false }
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: r, match: { path: /infer }, retry: { attempts: 3, on: [503], budget: ${BUDGET} }, backends: [ { to: u } ] }
`);
  const windowS = quick ? 10 : 60;
  try {
    await openLoop(`${proxy.data}/infer`, RATE, 5);   // healthy lead-in: the budget window fills with requests
    const retriesBefore = await proxy.metric('outrider_retries_total', { route: 'r' });
    const hitsBefore = await up.hits();
    await up.setStatus(503);
    const samples = await openLoop(`${proxy.data}/infer`, RATE, windowS);
    const retries = (await proxy.metric('outrider_retries_total', { route: 'r' })) - retriesBefore;
    const hits = (await up.hits()) - hitsBefore;
    const requests = samples.length;
    const percent = (retries / requests) * 100;
    const skipped = await proxy.metric('outrider_retries_skipped_total', { route: 'r', reason: 'budget' });
    return {
      name: 'retry budget',
      figures: {
        windowSeconds: windowS, rate: RATE, budgetPercent: BUDGET, requests, retries, upstreamHits: hits,
        retryPercent: round(percent), upstreamLoadFactor: round(hits / requests), retriesRefusedByBudget: skipped,
        clientStatuses: `503×${samples.filter((s) => s.status === 503).length}`,
      },
      bars: [{ name: `retries over the ${windowS} s failure window`, value: `${round(percent)}%`, limit: `≤ ${BUDGET + 1}%`, pass: percent <= BUDGET + 1 }],
    };
  } finally {
    await proxy.stop();
    await up.close();
  }
}
