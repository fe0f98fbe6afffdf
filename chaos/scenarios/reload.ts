// Invalid config reloads under load: each is refused with its errors, the running config stays,
// and not one request is dropped or answered twice. A valid reload in the middle swaps the
// route table under the same load.
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFile } from 'node:fs/promises';
import { request } from 'undici';
import { INFER_BODY, INFER_HEADERS, startModelServer } from '../fixtures/model-server.ts';
import { startLoad } from '../load.ts';
import { header, launch, metric, scrape } from '../outrider.ts';
import { countBy, formatCounts, isOk, outcome } from '../samples.ts';
import { checkNoHang } from '../checks.ts';
import type { Scenario } from '../scenario.ts';

const TIMEOUT_MS = 1_000;

/** Ways to break the file, each a transformation of the valid text. */
const BREAKAGES: readonly { readonly what: string; readonly edit: (yaml: string) => string }[] = [
  { what: 'YAML syntax error', edit: (y) => `${y}\nroutes: [ {\n` },
  { what: 'unknown key', edit: (y) => y.replace('timeout:', 'timeuot:') },
  { what: 'backend that does not exist', edit: (y) => y.replace('{ to: model }', '{ to: nosuch }') },
  { what: 'invalid duration', edit: (y) => y.replace(`timeout: ${TIMEOUT_MS}ms`, 'timeout: soon') },
  { what: 'empty file', edit: () => '' },
];

export const reload: Scenario = {
  name: 'reload-invalid',
  fault: 'invalid config files (syntax error, unknown key, bad reference, bad duration, empty) reloaded over the admin API and by SIGHUP, under constant load',
  criteria: {
    refused: 'every invalid reload is refused: POST /config/reload answers 400 invalid_config with located errors; SIGHUP logs the refusal',
    kept: 'the running config stays: GET /config is unchanged after each refusal, and a valid reload afterwards is applied',
    zeroDropped: 'zero dropped requests: every request sent is answered 200 with its own body',
    exactlyOnce: 'each request reached the upstream exactly once',
    noHang: 'no request hangs or passes its deadline',
  },
  needs: [],
  timeoutMs: 60_000,
  async run(r) {
    const loadMs = r.short ? 3_000 : 6_000;
    const up = await startModelServer({ inferMs: 5 });
    r.defer(() => up.stop());
    const valid = `${header()}
upstreams:
  - { name: model, endpoints: [${up.origin}] }
routes:
  - name: infer
    match: { path: /v2/models/, prefix: true }
    timeout: ${TIMEOUT_MS}ms
    backends: [ { to: model } ]
`;
    const o = await launch(r, valid);
    const configNow = async () => await (await request(`${o.admin}/config`)).body.text();
    const before = await configNow();
    const upBefore = (await up.stats()).inferences;

    const load = startLoad({
      origin: o.data, path: '/v2/models/m/infer', method: 'POST', body: INFER_BODY, headers: INFER_HEADERS,
      rate: 100, durationMs: loadMs, deadlineMs: TIMEOUT_MS,
    });
    const gap = Math.floor(loadMs / (BREAKAGES.length + 3));
    await sleep(gap);
    let refusedOk = 0;
    let keptOk = 0;
    const notes: string[] = [];
    for (const b of BREAKAGES) {
      await writeFile(o.configFile, b.edit(valid));
      const res = await request(`${o.admin}/config/reload`, { method: 'POST' });
      const body = await res.body.json() as { error?: { code?: string; errors?: { line: number }[] } };
      const located = body.error?.errors?.some((e) => e.line > 0) ?? false;
      if (res.statusCode === 400 && body.error?.code === 'invalid_config' && (located || b.what === 'empty file')) refusedOk++;
      else notes.push(`${b.what}: ${res.statusCode} ${JSON.stringify(body).slice(0, 120)}`);
      if ((await configNow()) === before) keptOk++;
      else notes.push(`${b.what}: GET /config changed`);
      await sleep(gap / 2);
    }
    // SIGHUP reloads the same file: still broken, so it must be refused the same way.
    const refusals = () => o.logs.filter((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('config reload refused')).length;
    const seenBefore = refusals();
    o.proc.kill('SIGHUP');
    const hupRefused = await o.waitForLog(() => refusals() > seenBefore, 5_000).then(() => true, () => false);
    const hupKept = (await configNow()) === before;

    // Finally a valid change (a longer route timeout) is applied under the same load.
    await writeFile(o.configFile, valid.replace(`timeout: ${TIMEOUT_MS}ms`, `timeout: ${TIMEOUT_MS + 1}ms`));
    const ok = await request(`${o.admin}/config/reload`, { method: 'POST' });
    await ok.body.dump();
    const applied = ok.statusCode === 200 && (await configNow()).includes(`${TIMEOUT_MS + 1}`);

    const samples = await load.done();
    const m = await scrape(o.admin);
    const invalidCount = metric(m, 'outrider_config_reloads_total', { result: 'invalid' });
    r.check('refused', refusedOk === BREAKAGES.length && hupRefused,
      `${refusedOk}/${BREAKAGES.length} API reloads refused with located errors; SIGHUP ${hupRefused ? 'refused' : 'NOT refused'}; outrider_config_reloads_total{result="invalid"} = ${invalidCount}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`);
    r.check('kept', keptOk === BREAKAGES.length && hupKept && applied,
      `config unchanged after ${keptOk + (hupKept ? 1 : 0)}/${BREAKAGES.length + 1} refusals; valid reload ${applied ? 'applied' : 'NOT applied'}`);

    const good = samples.filter(isOk);
    r.figure('requests', samples.length);
    r.figure('outcomes', formatCounts(countBy(samples, outcome)));
    r.check('zeroDropped', good.length === samples.length, `${good.length}/${samples.length} answered 200 with their own body (${formatCounts(countBy(samples, outcome))})`);
    const reached = (await up.stats()).inferences - upBefore;
    r.check('exactlyOnce', reached === samples.length, `upstream ran ${reached} inferences for ${samples.length} requests`);
    await checkNoHang(r, o, samples, TIMEOUT_MS);
  },
};
