// Admin endpoints, reload, drain and the CLI, against the real process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, Client, request } from 'undici';
import { runCli, startOutrider, waitReady } from '../helpers/outrider.ts';
import { echo, startUpstream } from '../helpers/upstreams.ts';

const base = (a: string, b: string, extra = '') => `
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
limits: { drainTimeout: 3s }
cache: { redis: { url: "redis://user:hunter2@127.0.0.1:6379" } }
upstreams:
  - { name: a, endpoints: [${a}] }
  - { name: b, endpoints: [${b}] }
routes:
  - { name: main, match: { path: /, prefix: true }, backends: [ { to: a } ] }
${extra}`;

test('admin endpoints: healthz, readyz, config (redacted), routes, runtimes, 404/405', async (t) => {
  const a = await startUpstream(echo);
  const b = await startUpstream(echo);
  const o = await startOutrider(base(a.origin, b.origin));
  t.after(async () => { await o.stop(); await a.close(); await b.close(); });
  await waitReady(o.admin);
  assert.equal((await request(`${o.admin}/healthz`)).statusCode, 200);
  const cfg = await (await request(`${o.admin}/config`)).body.text();
  assert.doesNotMatch(cfg, /hunter2/);
  assert.match(cfg, /"routes"/);
  const routes = await (await request(`${o.admin}/routes`)).body.json() as { routes: { name: string; backends: { name: string; effectiveWeightPercent: number }[] }[] };
  assert.equal(routes.routes[0]!.name, 'main');
  assert.equal(routes.routes[0]!.backends[0]!.effectiveWeightPercent, 100);
  const rt = await (await request(`${o.admin}/runtimes`)).body.json() as { runtimes: unknown[] };
  assert.deepEqual(rt.runtimes, []);
  assert.equal((await request(`${o.admin}/nope`)).statusCode, 404);
  assert.equal((await request(`${o.admin}/config/reload`)).statusCode, 405);
  // The admin port never serves data routes, and the data port never serves admin endpoints.
  const d = await request(`${o.data}/metrics`);
  assert.equal(d.headers['x-outrider-backend'], 'a');
  await d.body.dump();
});

test('reload: an invalid file is refused with its errors and the old config keeps serving; a valid one swaps routes', async (t) => {
  const a = await startUpstream(echo);
  const b = await startUpstream(echo);
  const o = await startOutrider(base(a.origin, b.origin));
  t.after(async () => { await o.stop(); await a.close(); await b.close(); });

  await writeFile(o.configFile, base(a.origin, b.origin).replace('backends: [ { to: a } ]', 'backends: [ { to: nosuch } ]'));
  const bad = await request(`${o.admin}/config/reload`, { method: 'POST' });
  assert.equal(bad.statusCode, 400);
  const errs = await bad.body.json() as { error: { code: string; errors: { line: number; path: string }[] } };
  assert.equal(errs.error.code, 'invalid_config');
  assert.ok(errs.error.errors.some((e) => e.path.includes('backends[0].to') && e.line > 0));
  const still = await request(`${o.data}/x`);
  assert.equal(still.headers['x-outrider-backend'], 'a');
  await still.body.dump();

  await writeFile(o.configFile, base(a.origin, b.origin).replace('backends: [ { to: a } ]', 'backends: [ { to: b } ]'));
  const ok = await request(`${o.admin}/config/reload`, { method: 'POST' });
  assert.equal(ok.statusCode, 200);
  await ok.body.dump();
  const now = await request(`${o.data}/x`);
  assert.equal(now.headers['x-outrider-backend'], 'b');
  await now.body.dump();

  // SIGHUP reloads too.
  await writeFile(o.configFile, base(a.origin, b.origin));
  o.proc.kill('SIGHUP');
  await o.waitForLog((l) => l['msg'] === 'config reloaded' && o.logs.filter((x) => x['msg'] === 'config reloaded').length >= 2);
  const back = await request(`${o.data}/x`);
  assert.equal(back.headers['x-outrider-backend'], 'a');
  await back.body.dump();
  const m = await (await request(`${o.admin}/metrics`)).body.text();
  assert.match(m, /outrider_config_reloads_total\{result="invalid"\} 1/);
});

test('no request is lost or answered twice across 20 reloads under load', async (t) => {
  const a = await startUpstream(echo);
  const b = await startUpstream(echo);
  const o = await startOutrider(base(a.origin, b.origin));
  t.after(async () => { await o.stop(); await a.close(); await b.close(); });
  const agent = new Agent({ connections: 8 });
  let stop = false;
  let sent = 0;
  const statuses = new Map<number, number>();
  const ids = new Set<string>();
  const load = Array.from({ length: 8 }, async () => {
    while (!stop) {
      sent++;
      const r = await request(`${o.data}/x`, { dispatcher: agent, method: 'POST', body: `n=${sent}` });
      statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
      ids.add(String(r.headers['x-request-id']));
      await r.body.dump();
    }
  });
  for (let i = 0; i < 20; i++) {
    await writeFile(o.configFile, base(a.origin, b.origin).replace('backends: [ { to: a } ]', `backends: [ { to: ${i % 2 === 0 ? 'b' : 'a'} } ]`));
    const r = await request(`${o.admin}/config/reload`, { method: 'POST' });
    assert.equal(r.statusCode, 200);
    await r.body.dump();
    await new Promise((res) => setTimeout(res, 30));
  }
  stop = true;
  await Promise.all(load);
  await agent.close();
  const total = [...statuses.values()].reduce((x, y) => x + y, 0);
  assert.deepEqual([...statuses.keys()], [200], `statuses: ${JSON.stringify([...statuses])}`);
  assert.equal(total, sent);
  assert.equal(ids.size, sent, 'each request answered once, with its own id');
  assert.equal(a.seen.length + b.seen.length, sent, 'each request reached an upstream exactly once');
  console.log(`# ${sent} requests across 20 reloads: ${JSON.stringify([...statuses])}`);
});

test('SIGTERM drains: readyz turns 503, in-flight requests finish, exit 0', async (t) => {
  const slow = await startUpstream((req, res, body, up) => setTimeout(() => echo(req, res, body, up), 600));
  const o = await startOutrider(base(slow.origin, slow.origin));
  t.after(async () => { await o.stop('SIGKILL'); await slow.close(); });
  const inflight = request(`${o.data}/slow`);
  await new Promise((r) => setTimeout(r, 100));
  o.proc.kill('SIGTERM');
  await o.waitForLog((l) => l['msg'] === 'draining');
  const ready = await request(`${o.admin}/readyz`).catch(() => null);
  if (ready !== null) assert.equal(ready.statusCode, 503);
  const res = await inflight;
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  const code = await new Promise<number | null>((r) => o.proc.once('exit', (c) => r(c)));
  assert.equal(code, 0);
});

test('SIGTERM: a request on an idle keep-alive connection just after the drain began is answered, with Connection: close', async (t) => {
  const a = await startUpstream(echo);
  const o = await startOutrider(base(a.origin, a.origin));
  t.after(async () => { await o.stop('SIGKILL'); await a.close(); });
  const client = new Client(o.data, { pipelining: 1 });
  t.after(() => client.destroy());
  const first = await client.request({ path: '/x', method: 'GET' });
  assert.equal(first.statusCode, 200);
  await first.body.dump();
  // The connection is idle now; a client cannot know the drain begins as it sends the next one.
  o.proc.kill('SIGTERM');
  await o.waitForLog((l) => l['msg'] === 'draining');
  const second = await client.request({ path: '/y', method: 'GET' });
  assert.equal(second.statusCode, 200);
  assert.equal(second.headers['connection'], 'close');
  await second.body.dump();
  const code = await new Promise<number | null>((r) => (o.proc.exitCode !== null ? r(o.proc.exitCode) : o.proc.once('exit', (c) => r(c))));
  assert.equal(code, 0);
});

test('listens on a unix socket', async (t) => {
  const a = await startUpstream(echo);
  const dir = await mkdtemp(path.join(tmpdir(), 'outrider-unix-'));
  const sock = path.join(dir, 'data.sock');
  const o = await startOutrider(base(a.origin, a.origin).replace('data: 127.0.0.1:0', 'data: unix:data.sock'), { dir });
  t.after(async () => { await o.stop(); await a.close(); });
  const agent = new Agent({ connect: { socketPath: sock } });
  const r = await request('http://localhost/x', { dispatcher: agent });
  assert.equal(r.statusCode, 200);
  await r.body.dump();
  await agent.close();
});

test('outrider validate: 0 for a valid file, every error as FILE:LINE:COL for an invalid one', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'outrider-validate-'));
  const file = path.join(dir, 'bad.yaml');
  await writeFile(file, `version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
upstreams:
  - { name: a, endpoints: [http://127.0.0.1:1] }
routes:
  - name: main
    match: { path: /, prefx: true }
    timeout: soon
    backends: [ { to: b } ]
`);
  const bad = await runCli(['validate', '-c', 'bad.yaml'], dir);
  assert.equal(bad.code, 1);
  const lines = bad.stderr.trim().split('\n');
  assert.ok(lines.length >= 3, bad.stderr);
  for (const l of lines) assert.match(l, /^bad\.yaml:\d+:\d+: \S+: .+/);
  assert.match(bad.stderr, /^bad\.yaml:7:\d+: routes\[0\]\.match\.prefx: .*prefix/m);
  assert.match(bad.stderr, /^bad\.yaml:8:\d+: routes\[0\]\.timeout: /m);
  assert.match(bad.stderr, /^bad\.yaml:9:\d+: routes\[0\]\.backends\[0\]\.to: /m);
  const good = await runCli(['validate', '-c', 'examples/outrider.yaml']);
  assert.equal(good.code, 0, good.stderr);
});
