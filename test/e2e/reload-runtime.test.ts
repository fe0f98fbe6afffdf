// A reload that changes a `kind: process` runtime hands traffic from the old replica to the new
// one under load without failing a request. The old server is a real process that on SIGTERM
// does what most servers do (Node's server.close + closeIdleConnections, aiohttp, uvicorn):
// it closes its idle keep-alive connections at once. Outrider must not have a request on its
// way over one of them at that moment: it stops the old replica only once nothing it sent
// there is still in flight.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { ROOT, startOutrider, waitReady } from '../helpers/outrider.ts';

const FIXTURE = `${ROOT}test/runtime/fixtures/http-server.ts`;

const config = (generation: number) => `
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
runtimes:
  - name: srv
    kind: process
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(FIXTURE)}, --port, "\${PORT}"]
    env: { GENERATION: "${generation}" }
    health: { path: /health, interval: 100ms }
    stopGrace: 5s
routes:
  - name: work
    match: { path: /work }
    timeout: 5s
    backends: [ { to: srv } ]
`;

interface ReplicaView { readonly pid: number | null; readonly state: string }

async function replicas(admin: string): Promise<ReplicaView[]> {
  const body = await (await fetch(`${admin}/runtimes`)).json() as { runtimes: { replicas: ReplicaView[] }[] };
  return body.runtimes[0]!.replicas;
}

test('reloading a process runtime under load: the old replica is stopped only after its last request, none fails', async (t) => {
  const o = await startOutrider(config(1), { readyTimeoutMs: 30_000 });
  t.after(async () => { await o.stop(); });
  await waitReady(o.admin, 30_000);

  const agent = new Agent({ connections: 16 });
  t.after(() => agent.close());
  const statuses = new Map<string, number>();
  let sent = 0;
  let stop = false;
  const load = Array.from({ length: 6 }, async () => {
    while (!stop) {
      sent++;
      let key: string;
      try {
        const r = await request(`${o.data}/work?ms=1`, { dispatcher: agent });
        const body = await r.body.text();
        key = r.statusCode === 200 ? '200' : `${r.statusCode} ${body.slice(0, 160)}`;
      } catch (e) {
        key = `client error ${(e as Error).message}`;
      }
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    }
  });

  const handovers = 6;
  let pids = (await replicas(o.admin)).map((r) => r.pid);
  for (let g = 2; g < 2 + handovers; g++) {
    await writeFile(o.configFile, config(g));
    const r = await request(`${o.admin}/config/reload`, { method: 'POST' });
    assert.equal(r.statusCode, 200, await r.body.text());
    // The hand-over is done when only the new generation is left and it is ready.
    const until = Date.now() + 30_000;
    for (;;) {
      const now = await replicas(o.admin);
      if (now.length === 1 && now[0]!.state === 'ready' && !pids.includes(now[0]!.pid)) {
        pids = now.map((x) => x.pid);
        break;
      }
      assert.ok(Date.now() < until, `no hand-over to generation ${g}: ${JSON.stringify(now)}`);
      await new Promise((res) => setTimeout(res, 20));
    }
  }
  await new Promise((res) => setTimeout(res, 200));
  stop = true;
  await Promise.all(load);

  assert.ok(sent > 200, `the load kept requests flowing during the hand-overs (${sent})`);
  assert.deepEqual([...statuses.keys()], ['200'], `statuses over ${sent} requests: ${JSON.stringify([...statuses])}`);
  const stopped = o.logs.filter((l) => l['msg'] === 'runtime replica state' && l['state'] === 'stopped');
  assert.equal(stopped.length, handovers, 'each old replica stopped');
});
