// The short chaos subset that runs with `npm test`: the real Outrider process under constant
// load, with the injector in the path or a signal sent, each scenario judged by its stated
// criteria (chaos/scenarios/). `npm run chaos` runs the full suite with longer windows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario } from '../../chaos/scenario.ts';
import type { Scenario } from '../../chaos/scenario.ts';
import { malformed } from '../../chaos/scenarios/malformed.ts';
import { reload } from '../../chaos/scenarios/reload.ts';
import { sigterm } from '../../chaos/scenarios/sigterm.ts';

async function passes(s: Scenario, diagnostic: (m: string) => void): Promise<void> {
  const res = await runScenario(s, { short: true, log: diagnostic });
  for (const c of res.criteria) diagnostic(`${c.pass ? 'pass' : 'FAIL'} ${c.key}: ${c.observed}`);
  const failed = res.criteria.filter((c) => !c.pass).map((c) => `${c.key}: ${c.criterion} — observed ${c.observed}`);
  assert.equal(res.error, null, `${s.name} stopped early: ${res.error}`);
  assert.deepEqual(failed, [], `${s.name} failed its criteria`);
}

test('chaos: malformed upstream responses → 502 or a cut response, never a crash, pool healthy afterwards', async (t) => {
  await passes(malformed, (m) => t.diagnostic(m));
});

test('chaos: invalid config reloads under load are refused with zero dropped requests', async (t) => {
  await passes(reload, (m) => t.diagnostic(m));
});

test('chaos: SIGTERM under load lets every in-flight request complete and exits 0', async (t) => {
  await passes(sigterm, (m) => t.diagnostic(m));
});
