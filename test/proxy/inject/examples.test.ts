// examples/k8s/: the manifests have the Kubernetes API's shape and agree with each other, the
// sample policy is valid, and the webhook Deployment's own arguments, with certificates from
// gen-certs.sh, start a webhook the API server could trust.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Agent, request } from 'undici';
import type { V1ConfigMap, V1Deployment, V1MutatingWebhookConfiguration, V1Service } from '@kubernetes/client-node';
import { injectManifest } from '../../../proxy/inject/manifest.ts';
import { DEFAULT_OPTIONS } from '../../../proxy/inject/options.ts';
import { CLI, ROOT, runCli } from '../../helpers/outrider.ts';
import { assertKubernetesShape, documents, podTemplate, sidecarOf } from './kube.ts';

const DIR = path.join(ROOT, 'examples', 'k8s');

async function manifest(name: string): Promise<Record<string, unknown>[]> {
  return documents(await readFile(path.join(DIR, name), 'utf8'));
}

function byKind<T>(docs: readonly Record<string, unknown>[], kind: string): T {
  const found = docs.filter((d) => d['kind'] === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0] as T;
}

test('the webhook manifests fit together: configuration -> Service -> Deployment', async () => {
  const docs = await manifest('webhook.yaml');
  for (const d of docs) assertKubernetesShape(d);
  const mwc = byKind<V1MutatingWebhookConfiguration>(docs, 'MutatingWebhookConfiguration');
  const svc = byKind<V1Service>(docs, 'Service');
  const deploy = byKind<V1Deployment>(docs, 'Deployment');
  const hook = mwc.webhooks![0]!;
  assert.deepEqual(hook.admissionReviewVersions, ['v1']);
  assert.equal(hook.sideEffects, 'None');
  assert.equal(hook.failurePolicy, 'Ignore');
  assert.deepEqual(hook.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
  assert.deepEqual(hook.objectSelector?.matchLabels, { 'outrider.io/inject': 'true' });
  assert.ok(hook.namespaceSelector?.matchExpressions?.[0]?.values?.includes('outrider-system'), 'the injector never reviews its own pods');
  const ref = hook.clientConfig.service!;
  assert.deepEqual([ref.name, ref.namespace, ref.path], [svc.metadata!.name, svc.metadata!.namespace, '/mutate']);
  const port = svc.spec!.ports!.find((p) => p.port === ref.port);
  assert.ok(port !== undefined, 'the Service exposes the port the configuration dials');
  assert.deepEqual(svc.spec!.selector, deploy.spec!.template.metadata!.labels);
  const container = deploy.spec!.template.spec!.containers[0]!;
  assert.ok(container.ports!.some((p) => p.name === port.targetPort), 'the Service targets the webhook container\'s port');
  assert.equal(deploy.metadata!.namespace, svc.metadata!.namespace);
});

test('the sample app: its policy is valid, named as the injector names it, and its Service reaches the sidecar', async (t) => {
  const docs = await manifest('app.yaml');
  for (const d of docs) assertKubernetesShape(d);
  const cm = byKind<V1ConfigMap>(docs, 'ConfigMap');
  const svc = byKind<V1Service>(docs, 'Service');

  const src = await readFile(path.join(DIR, 'app.yaml'), 'utf8');
  const r = injectManifest(src, DEFAULT_OPTIONS);
  assert.ok(r.ok);
  const injected = byKind<V1Deployment>(documents(r.text), 'Deployment');
  assertKubernetesShape(injected as unknown as Record<string, unknown>);
  const template = podTemplate(injected as unknown as Record<string, unknown>);
  assert.equal(template.spec!.volumes!.find((v) => v.name === 'outrider-config')!.configMap!.name, cm.metadata!.name);
  const sidecar = sidecarOf(template);
  assert.equal(svc.spec!.ports![0]!.targetPort, sidecar.ports!.find((p) => p.name === 'outrider-data')!.containerPort);

  // The policy as the sidecar reads it; /app/ is the image's working directory (Dockerfile).
  const dir = await mkdtemp(path.join(tmpdir(), 'outrider-k8s-example-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const policy = cm.data!['outrider.yaml']!.replaceAll('/app/examples/', path.join(ROOT, 'examples') + '/');
  await writeFile(path.join(dir, 'outrider.yaml'), policy);
  const v = await runCli(['validate', '-c', path.join(dir, 'outrider.yaml')]);
  assert.equal(v.code, 0, v.stderr);
});

test('gen-certs.sh and the Deployment\'s arguments start a webhook trusted for its Service name', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'outrider-k8s-certs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  execFileSync('bash', [path.join(DIR, 'gen-certs.sh'), dir], { stdio: 'ignore' });

  const deploy = byKind<V1Deployment>(await manifest('webhook.yaml'), 'Deployment');
  const args = deploy.spec!.template.spec!.containers[0]!.args!.map((a) => a.replace(/^\/tls\//, `${dir}/`));
  args[args.indexOf('--port') + 1] = '0';   // tests bind port 0 only
  const proc = spawn(process.execPath, [CLI, ...args, '--host', '127.0.0.1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 20_000);
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited ${code}: ${stderr}`)); });
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      const l = JSON.parse(line) as Record<string, unknown>;
      if (l['msg'] === 'webhook listening') { clearTimeout(timer); resolve(l['address'] as string); }
    });
  });
  // What the API server does: dial the Service name, verify against the caBundle (ca.crt).
  const agent = new Agent({ connect: { ca: await readFile(path.join(dir, 'ca.crt')), servername: 'outrider-webhook.outrider-system.svc' } });
  t.after(() => agent.close());
  const r = await request(`https://${address}/healthz`, { dispatcher: agent });
  assert.equal(r.statusCode, 200);
  await r.body.dump();
  const wrongName = new Agent({ connect: { ca: await readFile(path.join(dir, 'ca.crt')), servername: 'elsewhere.example.com' } });
  t.after(() => wrongName.close());
  await assert.rejects(request(`https://${address}/healthz`, { dispatcher: wrongName }), /altnames|Hostname/i);
});
