// A real Prometheus (Debian package `prometheus`, installed by .ci/run) scrapes a real Outrider:
// the metrics come back through Prometheus's HTTP API, every dashboard and alert expression
// parses, and the alert rules load and evaluate. promtool checks and unit-tests the rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { ROOT, startOutrider } from '../helpers/outrider.ts';
import { echo, startUpstream } from '../helpers/upstreams.ts';
import { alertExpressions, dashboardExpressions } from './expressions.ts';

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const ALERTS = path.join(ROOT, 'examples', 'prometheus', 'alerts.yaml');
const run = promisify(execFile);

const noPrometheus = existsSync(PROMETHEUS) ? false : `${PROMETHEUS} is absent: install the Debian package prometheus (.ci/run does)`;
const noPromtool = existsSync(PROMTOOL) ? false : `${PROMTOOL} is absent: install the Debian package prometheus (.ci/run does)`;

interface Prometheus { readonly url: string; readonly proc: ChildProcess; stderr(): string }

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** Starts Prometheus on a free loopback port (tried again on another if the port was taken meanwhile). */
async function startPrometheus(dir: string, config: string): Promise<Prometheus> {
  await writeFile(path.join(dir, 'prometheus.yml'), config);
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const proc = spawn(PROMETHEUS, [
      `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, `data-${attempt}`)}`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const url = `http://127.0.0.1:${port}`;
    const until = Date.now() + 20_000;
    while (Date.now() < until && proc.exitCode === null) {
      const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
      if (ready) return { url, proc, stderr: () => stderr };
      await new Promise((r) => setTimeout(r, 100));
    }
    proc.kill('SIGKILL');
    lastError = stderr;
  }
  throw new Error(`prometheus did not become ready: ${lastError}`);
}

interface Sample { metric: Record<string, string>; value: [number, string] }

async function query(url: string, expr: string): Promise<{ status: string; error?: string; data?: { resultType: string; result: Sample[] } }> {
  const r = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  return await r.json() as { status: string; error?: string; data?: { resultType: string; result: Sample[] } };
}

/** Polls a query until `accept` holds for its result, while `tick` keeps traffic flowing. */
async function until(url: string, expr: string, accept: (s: Sample[]) => boolean, tick: () => Promise<void>, ms = 20_000): Promise<Sample[]> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    await tick();
    const r = await query(url, expr);
    last = r;
    if (r.status === 'success' && r.data !== undefined && accept(r.data.result)) return r.data.result;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`${expr}: not as expected within ${ms} ms; last answer ${JSON.stringify(last)}`);
}

test('a real Prometheus scrapes Outrider and answers queries over its metrics', { skip: noPrometheus, timeout: 90_000 }, async (t) => {
  const ok = await startUpstream(echo);
  const failing = await startUpstream((_req, res) => { res.writeHead(503, { 'content-length': '0' }); res.end(); });
  t.after(async () => { await ok.close(); await failing.close(); });
  const o = await startOutrider(`
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
upstreams:
  - { name: app, endpoints: [${ok.origin}] }
  - { name: flaky, endpoints: [${failing.origin}] }
routes:
  - { name: flaky, match: { path: /flaky }, backends: [ { to: flaky } ] }
  - { name: main, match: { path: /, prefix: true }, backends: [ { to: app } ] }
telemetry: { tracing: false, accessLog: false }
`);
  t.after(() => o.stop());

  const dir = await mkdtemp(path.join(tmpdir(), 'outrider-prometheus-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const prom = await startPrometheus(dir, [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    `rule_files: [${JSON.stringify(ALERTS)}]`,
    'scrape_configs:',
    '  - job_name: outrider',
    `    static_configs: [ { targets: [${JSON.stringify(new URL(o.admin).host)}] } ]`,
    '',
  ].join('\n'));
  t.after(async () => {
    prom.proc.kill('SIGTERM');
    if (prom.proc.exitCode === null) await new Promise((r) => prom.proc.once('exit', r));
  });

  let sent = 0;
  const traffic = async () => {
    // A few requests per poll: rate() needs the counters to move between scrapes.
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${o.data}${i === 4 ? '/flaky' : '/v1/echo'}`);
      await r.arrayBuffer();
      sent++;
    }
  };

  await until(prom.url, 'up{job="outrider"}', (s) => s.length === 1 && s[0]!.value[1] === '1', traffic);
  const counts = await until(prom.url, 'sum by (route, code) (outrider_requests_total{job="outrider"})',
    (s) => s.some((x) => x.metric['route'] === 'main' && x.metric['code'] === '200' && Number(x.value[1]) >= 20)
      && s.some((x) => x.metric['route'] === 'flaky' && x.metric['code'] === '503'), traffic);
  const main = Number(counts.find((x) => x.metric['route'] === 'main')!.value[1]);
  assert.ok(main <= sent, `Prometheus saw ${main} requests on main, no more than the ${sent} sent`);

  const p99 = await until(prom.url, 'histogram_quantile(0.99, sum by (le, route) (rate(outrider_request_duration_seconds_bucket{route="main"}[10s])))',
    (s) => s.length === 1 && Number.isFinite(Number(s[0]!.value[1])) && Number(s[0]!.value[1]) > 0, traffic);
  assert.ok(Number(p99[0]!.value[1]) < 5, 'p99 of a loopback echo is well under the largest bucket');

  await until(prom.url, 'sum by (route) (rate(outrider_requests_total{code="503"}[10s]))',
    (s) => s.some((x) => x.metric['route'] === 'flaky' && Number(x.value[1]) > 0), traffic);

  // Every expression the dashboard and the alert rules use is valid PromQL to this Prometheus.
  const exprs = [...await dashboardExpressions(), ...await alertExpressions()];
  for (const { where, expr } of exprs) {
    const r = await query(prom.url, expr);
    assert.equal(r.status, 'success', `${where}: ${expr}\n${r.error ?? ''}`);
  }

  // The alert rules loaded and evaluated without error in the live server.
  const groups = await (async () => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await (await fetch(`${prom.url}/api/v1/rules`)).json() as { data: { groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[] } };
      const rules = r.data.groups.flatMap((g) => g.rules);
      if (rules.length > 0 && rules.every((x) => x.health !== 'unknown')) return r.data.groups;
      if (Date.now() > deadline) throw new Error(`rules not evaluated: ${JSON.stringify(r)}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  })();
  const rules = groups.flatMap((g) => g.rules);
  const file = parse(await readFile(ALERTS, 'utf8')) as { groups: { rules: unknown[] }[] };
  assert.equal(rules.length, file.groups.flatMap((g) => g.rules).length);
  for (const r of rules) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? ''}`);
});

test('promtool: the alert rules check and pass their unit tests; the scrape config checks', { skip: noPromtool }, async () => {
  const rules = await run(PROMTOOL, ['check', 'rules', ALERTS]);
  assert.match(rules.stdout, /SUCCESS: 9 rules found/);
  const unit = await run(PROMTOOL, ['test', 'rules', path.join(ROOT, 'test', 'observability', 'alert-rules.promtool.yaml')]);
  assert.match(unit.stdout, /SUCCESS/);
  const config = await run(PROMTOOL, ['check', 'config', path.join(ROOT, 'examples', 'prometheus', 'prometheus.yml')]);
  assert.match(config.stdout, /is valid prometheus config file syntax/);
});
