import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { loadConfigFile, loadConfigText } from '../../../proxy/config/load.ts';
import type { Config, LoadResult } from '../../../proxy/config/types.ts';
import { workspace } from './workspace.ts';

function config(result: LoadResult): Config {
  if (!result.ok) assert.fail(`expected a valid config, got:\n${result.errors.map((e) => `${e.line}:${e.col} ${e.path}: ${e.message}`).join('\n')}`);
  return result.config;
}

// SPEC §2's example without the keys this version refuses (see features.ts).
const SPEC_EXAMPLE = `version: 1
listen:
  data: 127.0.0.1:8080
  admin: 127.0.0.1:9901
limits:
  maxHeaderBytes: 16KiB
  maxBodyBytes: 8MiB
  maxInFlight: 1024
  headersTimeout: 10s
  bodyTimeout: 30s
  drainTimeout: 20s
requestId:
  header: x-request-id
  trustIncoming: true
runtimes:
  - name: mlp
    kind: onnx
    model: examples/models/mlp.onnx
    version: "1"
    replicas: 2
    device: cpu
    threads: 1
    batching: { maxBatchSize: 32, maxQueueDelay: 2ms, maxQueue: 512 }
    warmup: { iterations: 20 }
  - name: big-model
    kind: process
    command: [python3, examples/gpu/server.py, --port, "\${PORT}"]
    env: { MODEL: resnet }
    replicas: 1
    devices: [0]
    health: { path: /v2/health/ready, interval: 1s, startupTimeout: 120s }
    warmup: { iterations: 5, requests: [ { method: POST, path: /v2/models/resnet/infer, bodyFile: warm.json } ] }
    restart: { minBackoff: 500ms, maxBackoff: 30s }
upstreams:
  - name: legacy
    endpoints: [http://10.0.0.7:8000, http://10.0.0.8:8000]
routes:
  - name: classify
    match: { path: /v2/models/classifier/, prefix: true, methods: [POST] }
    timeout: 300ms
    attemptTimeout: 200ms
    backends:
      - { to: mlp, weight: 90 }
      - { to: legacy, weight: 10 }
  - name: embeddings
    match: { path: /v1/embeddings }
    backends: [ { to: big-model } ]
cache:
  maxBytes: 128MiB
  store: memory
  redis: { url: "redis://127.0.0.1:6379", prefix: "outrider:" }
telemetry:
  tracing: true
  accessLog: true
`;

const SPEC_FILES = { 'examples/models/mlp.onnx': 'placeholder: only existence is checked', 'warm.json': '{"inputs":[]}' };

test('the SPEC example normalises to the expected config', async (t) => {
  const dir = await workspace(t, { ...SPEC_FILES, 'outrider.yaml': SPEC_EXAMPLE });
  const c = config(await loadConfigFile(join(dir, 'outrider.yaml'), {}));
  assert.deepEqual(c, {
    version: 1,
    file: join(dir, 'outrider.yaml'),
    dir,
    listen: { data: { kind: 'tcp', host: '127.0.0.1', port: 8080 }, admin: { kind: 'tcp', host: '127.0.0.1', port: 9901 }, tls: null },
    limits: { maxHeaderBytes: 16384, maxBodyBytes: 8388608, maxInFlight: 1024, headersTimeout: 10_000, bodyTimeout: 30_000, drainTimeout: 20_000 },
    requestId: { header: 'x-request-id', trustIncoming: true },
    runtimes: [
      {
        kind: 'onnx', name: 'mlp', model: join(dir, 'examples/models/mlp.onnx'), version: '1', replicas: 2,
        device: 'cpu', cudaDevice: null, devices: [], cpuFallback: false, threads: 1, inference: 'auto',
        batching: { maxBatchSize: 32, maxQueueDelay: 2, maxQueue: 512 },
        warmup: { iterations: 20, sample: null },
        restart: { minBackoff: 500, maxBackoff: 30_000, standby: 0, bootAhead: true }, stopGrace: 5_000, tokenizer: 'builtin',
      },
      {
        kind: 'process', name: 'big-model', command: ['python3', 'examples/gpu/server.py', '--port', '${PORT}'],
        cwd: dir, env: { MODEL: 'resnet' }, version: '1', replicas: 1, devices: ['0'],
        health: { path: '/v2/health/ready', interval: 1_000, timeout: 1_000, startupTimeout: 120_000, failureThreshold: 3 },
        warmup: { iterations: 5, requests: [{ method: 'POST', path: '/v2/models/resnet/infer', headers: {}, body: '{"inputs":[]}' }] },
        restart: { minBackoff: 500, maxBackoff: 30_000, standby: 0, bootAhead: true }, stopGrace: 5_000,
      },
    ],
    upstreams: [{ name: 'legacy', endpoints: ['http://10.0.0.7:8000', 'http://10.0.0.8:8000'], outlier: null, tls: null }],
    routes: [
      {
        name: 'classify', match: { path: '/v2/models/classifier/', prefix: true, methods: ['POST'], headers: [] },
        timeout: 300, attemptTimeout: 200, backends: [{ to: 'mlp', weight: 90 }, { to: 'legacy', weight: 10 }],
        retry: null, breaker: null, cache: null, embeddingCache: null, sticky: null, shadow: null, canary: null, balance: 'p2c-ewma', fallback: [], maxConcurrent: null,
      },
      {
        name: 'embeddings', match: { path: '/v1/embeddings', prefix: false, methods: null, headers: [] },
        timeout: 60_000, attemptTimeout: null, backends: [{ to: 'big-model', weight: 1 }],
        retry: null, breaker: null, cache: null, embeddingCache: null, sticky: null, shadow: null, canary: null, balance: 'p2c-ewma', fallback: [], maxConcurrent: null,
      },
    ],
    cache: { maxBytes: 128 * 2 ** 20, maxEntryBytes: 2 ** 20, store: 'memory', redis: { url: 'redis://127.0.0.1:6379', prefix: 'outrider:' } },
    telemetry: { tracing: true, accessLog: true, logLevel: 'info' },
  });
  const p = c.runtimes[1]!;
  assert.ok(p.kind === 'process');
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.routes[0]!.backends[0]) && Object.isFrozen(p.warmup.requests[0]!.headers));
  assert.throws(() => { (c.limits as { maxInFlight: number }).maxInFlight = 1; }, TypeError);
});

test('a minimal file gets every default', async (t) => {
  const dir = await workspace(t, { 'm.onnx': 'x' });
  const c = config(await loadConfigText(`version: 1
runtimes:
  - { name: m, kind: onnx, model: m.onnx, batching: {} }
  - { name: p, kind: process, command: [./serve] }
  - { name: q, kind: process, command: [./serve], warmup: { requests: [ { path: /warm, body: "{}" } ] } }
routes:
  - { name: r, match: { path: / , prefix: true }, backends: [ { to: m } ] }
`, join(dir, 'outrider.yaml'), {}));
  assert.deepEqual(c.listen, { data: { kind: 'tcp', host: '127.0.0.1', port: 8080 }, admin: { kind: 'tcp', host: '127.0.0.1', port: 9901 }, tls: null });
  assert.deepEqual(c.limits, { maxHeaderBytes: 16 * 1024, maxBodyBytes: 8 * 2 ** 20, maxInFlight: 1024, headersTimeout: 10_000, bodyTimeout: 30_000, drainTimeout: 20_000 });
  assert.deepEqual(c.requestId, { header: 'x-request-id', trustIncoming: true });
  assert.deepEqual(c.cache, { maxBytes: 128 * 2 ** 20, maxEntryBytes: 2 ** 20, store: 'memory', redis: null });
  assert.deepEqual(c.telemetry, { tracing: false, accessLog: true, logLevel: 'info' });
  assert.deepEqual(c.upstreams, []);

  const [m, p, q] = c.runtimes;
  assert.ok(m?.kind === 'onnx' && p?.kind === 'process' && q?.kind === 'process');
  assert.deepEqual(
    { version: m.version, replicas: m.replicas, device: m.device, cudaDevice: m.cudaDevice, devices: m.devices, cpuFallback: m.cpuFallback, threads: m.threads, inference: m.inference, tokenizer: m.tokenizer },
    { version: '1', replicas: 1, device: 'cpu', cudaDevice: null, devices: [], cpuFallback: false, threads: 1, inference: 'auto', tokenizer: 'builtin' });
  assert.deepEqual(m.batching, { maxBatchSize: 8, maxQueueDelay: 2, maxQueue: 512 }, 'an empty batching block gets the batching defaults');
  assert.deepEqual(m.warmup, { iterations: 20, sample: null });
  assert.deepEqual(m.restart, { minBackoff: 500, maxBackoff: 30_000, standby: 0, bootAhead: true });
  assert.equal(m.stopGrace, 5_000);

  assert.equal(p.cwd, dir);
  assert.deepEqual(p.env, {});
  assert.deepEqual(p.health, { path: '/v2/health/ready', interval: 1_000, timeout: 1_000, startupTimeout: 120_000, failureThreshold: 3 });
  assert.deepEqual(p.warmup, { iterations: 0, requests: [] });
  assert.deepEqual(q.warmup, { iterations: 5, requests: [{ method: 'POST', path: '/warm', headers: {}, body: '{}' }] });

  const r = c.routes[0]!;
  assert.equal(r.timeout, 60_000, 'every request has a deadline');
  assert.equal(r.attemptTimeout, null);
  assert.deepEqual(r.match, { path: '/', prefix: true, methods: null, headers: [] });
});

test('no batching block means no batching', async (t) => {
  const dir = await workspace(t, { 'm.onnx': 'x' });
  const c = config(await loadConfigText('version: 1\nruntimes: [ { name: m, kind: onnx, model: m.onnx } ]\n', join(dir, 'c.yaml'), {}));
  const m = c.runtimes[0]!;
  assert.ok(m.kind === 'onnx');
  assert.deepEqual(m.batching, { maxBatchSize: 1, maxQueueDelay: 0, maxQueue: 512 });
});

test('relative paths resolve against the config directory, whatever the working directory', async (t) => {
  const dir = await workspace(t, {
    'deploy/models/m.onnx': 'x',
    'deploy/samples/s.json': '{"inputs": []}',
    'deploy/bodies/b.json': '{"warm": true}',
    'deploy/srv/.keep': '',
    'deploy/outrider.yaml': `version: 1
listen: { data: "unix:run/data.sock", admin: 127.0.0.1:0 }
runtimes:
  - { name: m, kind: onnx, model: models/m.onnx, warmup: { sample: samples/s.json } }
  - name: p
    kind: process
    command: [./serve.sh]
    cwd: srv
    warmup: { requests: [ { method: put, path: /w, bodyFile: bodies/b.json, headers: { Content-Type: application/json } } ] }
`,
  });
  const cwd = process.cwd();
  t.after(() => process.chdir(cwd));
  process.chdir(join(dir, 'deploy', 'srv'));
  const c = config(await loadConfigFile('../outrider.yaml', {}));
  assert.equal(c.file, join(dir, 'deploy/outrider.yaml'));
  assert.equal(c.dir, join(dir, 'deploy'));
  assert.deepEqual(c.listen.data, { kind: 'unix', path: join(dir, 'deploy/run/data.sock') });
  const [m, p] = c.runtimes;
  assert.ok(m?.kind === 'onnx' && p?.kind === 'process');
  assert.equal(m.model, join(dir, 'deploy/models/m.onnx'));
  assert.equal(m.warmup.sample, join(dir, 'deploy/samples/s.json'));
  assert.equal(p.cwd, join(dir, 'deploy/srv'));
  assert.deepEqual(p.warmup.requests, [{ method: 'PUT', path: '/w', headers: { 'content-type': 'application/json' }, body: '{"warm": true}' }]);

  // The same file given by another relative path loads the same way.
  process.chdir(dir);
  const again = config(await loadConfigFile(relative(dir, join(dir, 'deploy/outrider.yaml')), {}));
  assert.equal(again.runtimes[0]!.kind === 'onnx' && again.runtimes[0]!.model, join(dir, 'deploy/models/m.onnx'));
});

test('${VAR} and ${VAR:-default} are substituted; $$ is a literal $; unquoted numbers stay numbers', async (t) => {
  const dir = await workspace(t, { 'm.onnx': 'x' });
  const c = config(await loadConfigText(`version: 1
listen:
  data: \${HOST:-127.0.0.1}:\${DATA_PORT}
  admin: "127.0.0.1:\${ADMIN_PORT:-0}"
runtimes:
  - name: \${MODEL_NAME}
    kind: onnx
    model: \${MODEL_DIR:-.}/m.onnx
    replicas: \${REPLICAS:-3}
    threads: \${THREADS}
    cpuFallback: \${FALLBACK:-false}
    version: "\${VERSION:-2}"
  - name: p
    kind: process
    command: [sh, -c, 'echo $$HOME \${GREETING}']
    env: { TOKEN: "\${TOKEN}", EMPTY: "\${UNSET_BUT_EMPTY:-}" }
routes:
  - { name: r, match: { path: "/\${PREFIX:-v2}/x" }, backends: [ { to: "\${MODEL_NAME}" } ] }
`, join(dir, 'c.yaml'), { DATA_PORT: '8181', MODEL_NAME: 'clf', THREADS: '4', GREETING: 'hi', TOKEN: 's3cr3t', MODEL_DIR: '', PREFIX: 'v1' }));
  assert.deepEqual(c.listen.data, { kind: 'tcp', host: '127.0.0.1', port: 8181 });
  assert.deepEqual(c.listen.admin, { kind: 'tcp', host: '127.0.0.1', port: 0 });
  const [m, p] = c.runtimes;
  assert.ok(m?.kind === 'onnx' && p?.kind === 'process');
  assert.equal(m.name, 'clf');
  assert.equal(m.model, join(dir, 'm.onnx'), 'an empty variable takes the :- default');
  assert.equal(m.replicas, 3);
  assert.equal(m.threads, 4);
  assert.equal(m.cpuFallback, false);
  assert.equal(m.version, '2', 'a quoted value stays a string');
  assert.deepEqual(p.command, ['sh', '-c', 'echo $HOME hi']);
  assert.deepEqual(p.env, { TOKEN: 's3cr3t', EMPTY: '' });
  assert.equal(c.routes[0]!.match.path, '/v1/x');
  assert.equal(c.routes[0]!.backends[0]!.to, 'clf');
});

test('${PORT} is kept in a runtime command, env and health, and substituted elsewhere', async (t) => {
  const dir = await workspace(t, {});
  const c = config(await loadConfigText(`version: 1
listen: { data: "127.0.0.1:\${PORT}", admin: 127.0.0.1:0 }
runtimes:
  - name: p
    kind: process
    command: [python3, server.py, --port, "\${PORT}", "--url=http://127.0.0.1:\${PORT}/"]
    env: { LISTEN: "0.0.0.0:\${PORT}", USER_HOME: "\${HOME_DIR}" }
    health: { path: "/health/\${PORT}" }
`, join(dir, 'c.yaml'), { PORT: '7000', HOME_DIR: '/home/x' }));
  assert.deepEqual(c.listen.data, { kind: 'tcp', host: '127.0.0.1', port: 7000 });
  const p = c.runtimes[0]!;
  assert.ok(p.kind === 'process');
  assert.deepEqual(p.command, ['python3', 'server.py', '--port', '${PORT}', '--url=http://127.0.0.1:${PORT}/']);
  assert.deepEqual(p.env, { LISTEN: '0.0.0.0:${PORT}', USER_HOME: '/home/x' });
  assert.equal(p.health.path, '/health/${PORT}');
});

test('listen addresses: IPv6, port 0 on both ports, unix sockets', async (t) => {
  const dir = await workspace(t, {});
  const load = async (data: string, admin: string) => loadConfigText(`version: 1\nlisten: { data: "${data}", admin: "${admin}" }\n`, join(dir, 'c.yaml'), {});
  assert.deepEqual(config(await load('[::1]:8080', '127.0.0.1:0')).listen.data, { kind: 'tcp', host: '::1', port: 8080 });
  assert.ok((await load('127.0.0.1:0', '127.0.0.1:0')).ok, 'two port-0 listeners never collide');
  assert.deepEqual(config(await load('unix:/tmp/o.sock', 'localhost:9901')).listen, {
    data: { kind: 'unix', path: '/tmp/o.sock' }, admin: { kind: 'tcp', host: 'localhost', port: 9901 }, tls: null,
  });
  assert.equal((await load('127.0.0.1:8080', '127.0.0.1:8080')).ok, false);
  assert.equal((await load('0.0.0.0:8080', '127.0.0.1:8080')).ok, false);
  assert.equal((await load('unix:a.sock', 'unix:./a.sock')).ok, false);
});

test('upstream endpoints are normalised to origins; devices and cuda:N', async (t) => {
  const dir = await workspace(t, { 'm.onnx': 'x' });
  const c = config(await loadConfigText(`version: 1
runtimes:
  - { name: g, kind: onnx, model: m.onnx, device: "cuda:1", devices: [0, GPU-5c9b, 2], cpuFallback: true }
  - { name: h, kind: onnx, model: m.onnx, device: cuda }
upstreams:
  - { name: u, endpoints: [ "http://Example.COM:80/", "https://10.0.0.1:8443", "http://[::1]:9000" ] }
routes:
  - name: r
    match: { path: /x, methods: [post, Get, POST], headers: { X-Tenant: acme, X-Debug: true } }
    backends: [ { to: u, weight: 0.5 }, { to: g, weight: 0 } ]
`, join(dir, 'c.yaml'), {}));
  const [g, h] = c.runtimes;
  assert.ok(g?.kind === 'onnx' && h?.kind === 'onnx');
  assert.deepEqual([g.device, g.cudaDevice, g.devices, g.cpuFallback], ['cuda', 1, ['0', 'GPU-5c9b', '2'], true]);
  assert.deepEqual([h.device, h.cudaDevice], ['cuda', null]);
  assert.deepEqual(c.upstreams[0]!.endpoints, ['http://example.com', 'https://10.0.0.1:8443', 'http://[::1]:9000']);
  assert.deepEqual(c.routes[0]!.match.methods, ['POST', 'GET']);
  assert.deepEqual(c.routes[0]!.match.headers, [{ name: 'x-tenant', value: 'acme' }, { name: 'x-debug', value: null }]);
  assert.deepEqual(c.routes[0]!.backends, [{ to: 'u', weight: 0.5 }, { to: 'g', weight: 0 }]);
});

// The keys features.ts refuses are still read and normalised, so enabling one is deleting its gate.
test('gated features normalise once their gate is lifted', async (t) => {
  const dir = await workspace(t, { 'm.onnx': 'x' });
  const c = config(await loadConfigText(`version: 1
runtimes:
  - { name: mlp, kind: onnx, model: m.onnx }
  - { name: mlp-next, kind: onnx, model: m.onnx }
  - { name: mlp-candidate, kind: onnx, model: m.onnx }
  - { name: mlp-small, kind: onnx, model: m.onnx }
upstreams:
  - { name: legacy, endpoints: [http://10.0.0.7:8000], outlier: { consecutiveFailures: 5, ejectFor: 30s } }
  - { name: other, endpoints: [http://10.0.0.9:8000], outlier: {} }
routes:
  - name: classify
    match: { path: /v2/models/classifier/, prefix: true, methods: [POST] }
    timeout: 300ms
    retry: { attempts: 2, on: [connect, reset, 503], budget: 20 }
    breaker: { failureRate: 50, minRequests: 20, window: 10s, openFor: 5s, maxConcurrent: 256 }
    cache: { ttl: 60s, vary: [X-Tenant] }
    backends:
      - { to: mlp, weight: 90 }
      - { to: mlp-next, weight: 10 }
    sticky: { header: X-User-Id }
    shadow: { to: mlp-candidate, percent: 20, compare: argmax }
    canary: { backend: mlp-next, window: 30s, minRequests: 50, maxErrorRateDelta: 1, maxP99Ratio: 1.5, action: rollback }
    fallback:
      - cache: stale
      - to: mlp-small
      - static: { status: 200, json: { outputs: [] } }
      - static: { status: 503, body: busy, headers: { Retry-After: "1" } }
      - static: { status: 200, body: "<p/>", headers: { Content-Type: text/html } }
  - name: defaults
    match: { path: /d }
    backends: [ { to: legacy } ]
    retry: {}
    breaker: {}
    embeddingCache: { ttl: 24h }
    shadow: { to: mlp }
    canary: { backend: legacy }
cache:
  store: redis
  redis: { url: "redis://:pw@127.0.0.1:6379" }
`, join(dir, 'c.yaml'), {}, { gates: [] }));
  assert.deepEqual(c.upstreams.map((u) => u.outlier), [{ consecutiveFailures: 5, ejectFor: 30_000 }, { consecutiveFailures: 5, ejectFor: 30_000 }]);
  const [r, d] = c.routes;
  assert.deepEqual(r?.retry, { attempts: 2, on: ['connect', 'reset', 503], budget: 20 });
  assert.deepEqual(r?.breaker, { failureRate: 50, minRequests: 20, window: 10_000, openFor: 5_000, maxConcurrent: 256 });
  assert.deepEqual(r?.cache, { ttl: 60_000, vary: ['x-tenant'], staleFor: 300_000 });
  assert.deepEqual(r?.sticky, { header: 'x-user-id' });
  assert.deepEqual(r?.shadow, { to: 'mlp-candidate', percent: 20, compare: 'argmax', timeout: null, maxInFlight: 64, tolerance: null });
  assert.deepEqual(r?.canary, { backend: 'mlp-next', window: 30_000, minRequests: 50, maxErrorRateDelta: 1, maxP99Ratio: 1.5, action: 'rollback', steps: [], stepEvery: 30_000 });
  assert.equal(r?.balance, 'p2c-ewma');
  assert.deepEqual(r?.fallback, [
    { kind: 'stale-cache' },
    { kind: 'backend', to: 'mlp-small' },
    { kind: 'static', status: 200, headers: {}, body: '{"outputs":[]}', contentType: 'application/json' },
    { kind: 'static', status: 503, headers: { 'retry-after': '1' }, body: 'busy', contentType: 'text/plain; charset=utf-8' },
    { kind: 'static', status: 200, headers: {}, body: '<p/>', contentType: 'text/html' },
  ]);
  assert.deepEqual(d?.retry, { attempts: 2, on: ['connect', 'reset', 503], budget: 20 });
  assert.deepEqual(d?.breaker, { failureRate: 50, minRequests: 20, window: 10_000, openFor: 5_000, maxConcurrent: 256 });
  assert.deepEqual(d?.embeddingCache, { ttl: 86_400_000 });
  assert.deepEqual(d?.shadow, { to: 'mlp', percent: 100, compare: 'max-abs-diff', timeout: null, maxInFlight: 64, tolerance: null });
  assert.deepEqual(d?.canary, { backend: 'legacy', window: 30_000, minRequests: 50, maxErrorRateDelta: 1, maxP99Ratio: 1.5, action: 'rollback', steps: [], stepEvery: 30_000 });
  assert.deepEqual(c.cache, { maxBytes: 128 * 2 ** 20, maxEntryBytes: 2 ** 20, store: 'redis', redis: { url: 'redis://:pw@127.0.0.1:6379', prefix: 'outrider:' } });
});

test('x- keys hold YAML anchors that entries merge with <<', async (t) => {
  const dir = await workspace(t, { 'm.onnx': 'x' });
  const c = config(await loadConfigText(`version: 1
x-onnx: &onnx { kind: onnx, model: m.onnx, replicas: 2, batching: { maxBatchSize: 16 } }
x-serve: &serve [python3, serve.py, --port, "\${PORT}"]
runtimes:
  - { <<: *onnx, name: a }
  - { <<: *onnx, name: b, replicas: 3 }
  - { name: p, kind: process, command: *serve }
`, join(dir, 'c.yaml'), {}));
  assert.deepEqual(c.runtimes.map((r) => [r.name, r.replicas, r.kind === 'onnx' && r.batching.maxBatchSize]), [['a', 2, 16], ['b', 3, 16], ['p', 1, false]]);
  assert.deepEqual(c.runtimes[2]!.kind === 'process' && c.runtimes[2]!.command, ['python3', 'serve.py', '--port', '${PORT}'], '${PORT} in a shared anchor is kept for the supervisor');
});

test('restart.bootAhead: false is kept; a non-boolean is an error at its line and column', async (t) => {
  const dir = await workspace(t, { 'm.onnx': 'x' });
  const text = (v: string) => `version: 1
runtimes:
  - name: m
    kind: onnx
    model: m.onnx
    restart: { minBackoff: 1s, bootAhead: ${v} }
routes:
  - { name: r, match: { path: / , prefix: true }, backends: [ { to: m } ] }
`;
  const c = config(await loadConfigText(text('false'), join(dir, 'outrider.yaml'), {}));
  assert.deepEqual(c.runtimes[0]!.restart, { minBackoff: 1_000, maxBackoff: 30_000, standby: 0, bootAhead: false });
  const bad = await loadConfigText(text('sometimes'), join(dir, 'outrider.yaml'), {});
  assert.equal(bad.ok, false);
  const e = bad.ok ? undefined : bad.errors.find((x) => x.path.endsWith('bootAhead'));
  assert.ok(e !== undefined, `an error names restart.bootAhead: ${bad.ok ? '' : JSON.stringify(bad.errors)}`);
  assert.equal(e.line, 6);
});
