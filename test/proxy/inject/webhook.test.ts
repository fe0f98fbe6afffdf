// The real `outrider webhook` process, over TLS with a certificate made at test time: real
// AdmissionReview requests in, JSONPatches out, applied and compared with `outrider inject`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import tls from 'node:tls';
import { Agent, request } from 'undici';
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { injectManifest } from '../../../proxy/inject/manifest.ts';
import { DEFAULT_OPTIONS } from '../../../proxy/inject/options.ts';
import { CLI, ROOT } from '../../helpers/outrider.ts';
import { assertKubernetesShape, documents, fixture } from './kube.ts';

type Json = Record<string, unknown>;

let dir = '';
let proc: ChildProcess;
let origin = '';
let agent: Agent;
let certFile = '';
let keyFile = '';

function makeCert(cn: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${cn}`,
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'outrider-webhook-'));
  certFile = path.join(dir, 'tls.crt');
  keyFile = path.join(dir, 'tls.key');
  makeCert('outrider-webhook-1');
  proc = spawn(process.execPath, [CLI, 'webhook', '--tls-cert', certFile, '--tls-key', keyFile, '--port', '0', '--host', '127.0.0.1', '--cert-poll', '100'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const address = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`webhook did not start: ${stderr}`)), 20_000);
    proc.once('exit', (code) => { clearTimeout(t); reject(new Error(`webhook exited with ${code}: ${stderr}`)); });
    readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
      const l = JSON.parse(line) as Json;
      if (l['msg'] === 'webhook listening') { clearTimeout(t); resolve(l['address'] as string); }
    });
  });
  origin = `https://${address}`;
  agent = new Agent({ connect: { ca: await readFile(certFile) } });
});

after(async () => {
  await agent?.close();
  if (proc !== undefined && proc.exitCode === null) {
    proc.kill('SIGKILL');
    await new Promise((r) => proc.once('exit', r));
  }
  await rm(dir, { recursive: true, force: true });
});

function review(object: unknown, overrides: Json = {}): Json {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: crypto.randomUUID(),
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: 'inference',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object,
      oldObject: null,
      dryRun: false,
      ...overrides,
    },
  };
}

async function send(body: unknown): Promise<{ status: number; body: Json }> {
  const r = await request(`${origin}/mutate`, {
    method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: r.statusCode, body: await r.body.json() as Json };
}

async function admit(object: unknown, overrides: Json = {}): Promise<{ response: Json; patched: Json }> {
  const sent = review(object, overrides);
  const r = await send(sent);
  assert.equal(r.status, 200);
  assert.equal(r.body['apiVersion'], 'admission.k8s.io/v1');
  assert.equal(r.body['kind'], 'AdmissionReview');
  const response = r.body['response'] as Json;
  assert.equal(response['uid'], (sent['request'] as Json)['uid']);
  assert.equal(response['allowed'], true);
  let patched = structuredClone(object) as Json;
  if (response['patch'] !== undefined) {
    assert.equal(response['patchType'], 'JSONPatch');
    const ops = JSON.parse(Buffer.from(response['patch'] as string, 'base64').toString('utf8')) as Operation[];
    patched = jsonpatch.applyPatch(patched, ops, true, false).newDocument;
  }
  return { response, patched };
}

test('a labelled pod gets the same sidecar as `outrider inject` gives it', async () => {
  const src = await fixture('pod.yaml');
  const [pod] = documents(src);
  const { response, patched } = await admit(pod);
  assert.ok(response['patch'] !== undefined, 'a patch came back');
  const injected = injectManifest(src, DEFAULT_OPTIONS);
  assert.ok(injected.ok);
  assert.deepEqual(patched, documents(injected.text)[0]);
  assertKubernetesShape(patched);
});

test('the pod of a Deployment, opted in by annotation, matches `inject` on the Deployment', async () => {
  const [deploy] = documents(await fixture('deployment.yaml'));
  const template = (deploy!['spec'] as Json)['template'] as Json;
  const meta = template['metadata'] as Json;
  // What the ReplicaSet controller creates: the template, a generated name, the opt-in annotation.
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...meta, generateName: 'classifier-7d9f8b6c5-', annotations: { 'outrider.io/inject': 'true' } }, spec: template['spec'] };
  const { patched } = await admit(pod);
  const [injectedDeploy] = documents((injectManifest(await fixture('deployment.yaml'), DEFAULT_OPTIONS) as { text: string }).text);
  const injectedTemplate = (injectedDeploy!['spec'] as Json)['template'] as Json;
  // Same spec; the ConfigMap is named from the app label there and from the workload here: both classifier.
  assert.deepEqual(patched['spec'], injectedTemplate['spec']);
  assert.deepEqual((patched['metadata'] as Json)['annotations'], { 'outrider.io/inject': 'true', ...((injectedTemplate['metadata'] as Json)['annotations'] as Json) });
  assertKubernetesShape(patched);
});

test('pods not opted in, already injected, or not being created are admitted unchanged', async () => {
  const [pod] = documents(await fixture('pod.yaml'));
  const plain = structuredClone(pod!);
  delete ((plain['metadata'] as Json)['labels'] as Json)['outrider.io/inject'];
  assert.equal((await admit(plain)).response['patch'], undefined);

  const once = (await admit(pod)).patched;
  assert.equal((await admit(once)).response['patch'], undefined, 'a second review of an injected pod changes nothing');

  assert.equal((await admit(pod, { operation: 'UPDATE', oldObject: pod })).response['patch'], undefined);
  assert.equal((await admit(pod, { subResource: 'status' })).response['patch'], undefined);
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', labels: { 'outrider.io/inject': 'true' } } };
  assert.equal((await admit(svc, { kind: { group: '', version: 'v1', kind: 'Service' } })).response['patch'], undefined);
});

test('a pod that cannot be injected is still admitted, with a warning saying why', async () => {
  const [, pod] = documents(await fixture('refuse-host-network.yaml'));
  (pod!['metadata'] as Json)['labels'] = { 'outrider.io/inject': 'true' };
  const { response } = await admit(pod);
  assert.equal(response['patch'], undefined);
  assert.deepEqual(response['warnings'], [`outrider: sidecar not injected: container "agent" already uses containerPort 9901, the sidecar's admin port (the pod uses the host network, so the port is the node's); choose another with --admin-port`]);
});

test('malformed reviews get a 400 JSON error; other paths and methods are refused', async () => {
  for (const [body, message] of [
    ['{not json', /the body is not JSON/],
    [{ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u' } }, /expected apiVersion admission\.k8s\.io\/v1/],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /request is missing/],
    [review({}, { uid: '' }), /request\.uid is missing/],
    [review('a pod'), /request\.object is not a Pod/],
    [[1, 2], /not a JSON object/],
  ] as const) {
    const r = await send(body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal((r.body['error'] as Json)['code'], 'invalid_request');
    assert.match((r.body['error'] as Json)['message'] as string, message);
  }
  const health = await request(`${origin}/healthz`, { dispatcher: agent });
  assert.equal(health.statusCode, 200);
  await health.body.dump();
  const get = await request(`${origin}/mutate`, { dispatcher: agent });
  assert.equal(get.statusCode, 405);
  await get.body.dump();
  const other = await request(`${origin}/validate`, { dispatcher: agent, method: 'POST', body: '{}' });
  assert.equal(other.statusCode, 404);
  await other.body.dump();
});

test('a rotated certificate is served without a restart', async () => {
  const served = () => new Promise<string>((resolve, reject) => {
    const u = new URL(origin);
    const s = tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      const cn = s.getPeerCertificate().subject.CN;
      s.end();
      resolve(Array.isArray(cn) ? cn.join() : String(cn));
    });
    s.once('error', reject);
  });
  assert.equal(await served(), 'outrider-webhook-1');
  makeCert('outrider-webhook-2');
  const until = Date.now() + 10_000;
  let cn = '';
  while (Date.now() < until && (cn = await served()) !== 'outrider-webhook-2') await new Promise((r) => setTimeout(r, 100));
  assert.equal(cn, 'outrider-webhook-2');
  // Still answering reviews, trusted with the new certificate.
  await agent.close();
  agent = new Agent({ connect: { ca: await readFile(certFile) } });
  const [pod] = documents(await fixture('pod.yaml'));
  assert.ok((await admit(pod)).response['patch'] !== undefined);
});

test('SIGTERM stops the webhook with exit 0', async () => {
  proc.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  assert.equal(code, 0);
});
