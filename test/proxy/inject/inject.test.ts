// `outrider inject` as a function over real manifests (test/fixtures/k8s/), the output checked
// against the Kubernetes API's models.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Volume } from '@kubernetes/client-node';
import { injectManifest } from '../../../proxy/inject/manifest.ts';
import { DEFAULT_OPTIONS, OUTRIDER_VERSION, checkOptions } from '../../../proxy/inject/options.ts';
import type { InjectOptions } from '../../../proxy/inject/options.ts';
import { assertKubernetesShape, documents, fixture, isSubsequence, podTemplate, sidecarOf } from './kube.ts';

const WORKLOADS = new Set(['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob']);

function inject(src: string, opts: Partial<InjectOptions> = {}): string {
  const r = injectManifest(src, { ...DEFAULT_OPTIONS, ...opts });
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  return r.text;
}

function refusals(src: string, opts: Partial<InjectOptions> = {}): readonly string[] {
  const r = injectManifest(src, { ...DEFAULT_OPTIONS, ...opts });
  assert.ok(!r.ok, 'expected the manifest to be refused');
  return r.errors;
}

test('every workload kind gets the sidecar, its volumes and annotations, in the Kubernetes API shape', async () => {
  const expectedConfigMaps: Record<string, string> = {
    classifier: 'classifier-outrider',       // Deployment: the workload's name
    embedder: 'embedder-outrider',           // Pod: its app.kubernetes.io/name label
    ranker: 'ranker-outrider',
    'node-scorer': 'node-scorer-outrider',
    'nightly-eval': 'nightly-eval-outrider',
    legacy: 'legacy-outrider',
    backfill: 'backfill-outrider',
  };
  const seen = new Set<string>();
  for (const file of ['deployment.yaml', 'pod.yaml', 'statefulset.yaml', 'multi.yaml']) {
    for (const obj of documents(inject(await fixture(file)))) {
      const name = (obj['metadata'] as { name: string }).name;
      if (obj['apiVersion'] === 'batch.volcano.sh/v1alpha1') continue;
      assertKubernetesShape(obj);
      if (!WORKLOADS.has(obj['kind'] as string)) continue;
      seen.add(obj['kind'] as string);
      const t = podTemplate(obj);
      const c = sidecarOf(t);
      assert.equal(c.image, `ghcr.io/outrider/outrider:${OUTRIDER_VERSION}`);
      assert.deepEqual(c.args, ['run', '-c', '/etc/outrider/outrider.yaml']);
      assert.equal(c.restartPolicy, 'Always');
      assert.deepEqual(c.env, [{ name: 'OUTRIDER_DATA', value: '0.0.0.0:8080' }, { name: 'OUTRIDER_ADMIN', value: '0.0.0.0:9901' }]);
      assert.deepEqual(c.ports?.map((p) => [p.name, p.containerPort]), [['outrider-data', 8080], ['outrider-admin', 9901]]);
      assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
      assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
      assert.equal(c.startupProbe?.httpGet?.path, '/healthz');
      assert.equal(c.readinessProbe?.httpGet?.port, 'outrider-admin');
      assert.deepEqual(c.resources, { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } });
      assert.equal(c.securityContext?.runAsNonRoot, true);
      assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
      assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
      assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
      assert.equal(c.lifecycle, undefined, 'a native sidecar is stopped after the app by the kubelet: no preStop');
      assert.deepEqual(c.volumeMounts?.map((m) => [m.name, m.mountPath, m.readOnly]), [['outrider-config', '/etc/outrider', true], ['outrider-tmp', '/tmp', undefined]]);
      const volumes = t.spec?.volumes ?? [];
      const config = volumes.find((v: V1Volume) => v.name === 'outrider-config');
      assert.equal(config?.configMap?.name, expectedConfigMaps[name], `${name}'s ConfigMap`);
      const annotations = t.metadata?.annotations ?? {};
      assert.equal(annotations['outrider.io/injected'], OUTRIDER_VERSION);
      if (name === 'ranker') {
        // The app's own scrape annotations are kept, not overwritten.
        assert.equal(annotations['prometheus.io/port'], '9100');
      } else {
        assert.deepEqual([annotations['prometheus.io/scrape'], annotations['prometheus.io/port'], annotations['prometheus.io/path']], ['true', '9901', '/metrics']);
      }
      // The app containers are untouched.
      assert.ok((t.spec?.containers ?? []).every((x) => x.name !== 'outrider'));
    }
  }
  assert.deepEqual([...seen].sort(), ['CronJob', 'DaemonSet', 'Deployment', 'Job', 'Pod', 'ReplicaSet', 'StatefulSet']);
});

test('init containers that were there run before the sidecar; the grace period covers the drain', async () => {
  const [deploy] = documents(inject(await fixture('deployment.yaml')));
  const spec = podTemplate(deploy!).spec!;
  assert.deepEqual(spec.initContainers?.map((c) => c.name), ['fetch-models', 'outrider']);
  // 20 s drain + 5 s margin fits in Kubernetes's default 30 s: the field stays absent.
  assert.equal(spec.terminationGracePeriodSeconds, undefined);
  const [pod] = documents(inject(await fixture('pod.yaml')));
  assert.equal(podTemplate(pod!).spec!.terminationGracePeriodSeconds, 25, 'raised from 10 to drain + margin');
  const [slow] = documents(inject(await fixture('deployment.yaml'), { drainTimeoutSeconds: 60 }));
  assert.equal(podTemplate(slow!).spec!.terminationGracePeriodSeconds, 65);
});

test('every input line survives in order, comments included; untouched documents are byte for byte', async () => {
  for (const file of ['deployment.yaml', 'statefulset.yaml', 'multi.yaml']) {
    const src = await fixture(file);
    const out = inject(src);
    assert.ok(isSubsequence(src.split('\n'), out.split('\n')), `${file}: an input line changed or moved`);
  }
  const pod = await fixture('pod.yaml');
  const podOut = inject(pod);
  const kept = pod.split('\n').filter((l) => !l.includes('terminationGracePeriodSeconds'));
  assert.ok(isSubsequence(kept, podOut.split('\n')));
  assert.match(podOut, /^ {2}terminationGracePeriodSeconds: 25$/m);

  const multi = await fixture('multi.yaml');
  const out = inject(multi);
  const docs = multi.split(/^---\n/m);
  for (const i of [0, 3, 4]) assert.ok(out.includes(docs[i]!), `document ${i + 1} is copied as written`);
  assert.ok(out.endsWith('# trailing comment at the end of the stream\n'));
});

test('a second pass changes nothing, byte for byte', async () => {
  for (const file of ['deployment.yaml', 'pod.yaml', 'statefulset.yaml', 'multi.yaml', 'list.json']) {
    const once = inject(await fixture(file));
    assert.equal(inject(once), once, file);
  }
  const regular = inject(await fixture('deployment.yaml'), { nativeSidecar: false });
  assert.equal(inject(regular, { nativeSidecar: false }), regular);
});

test('regular-container mode: a preStop sleep before the drain; Jobs are refused', async () => {
  const opts = { nativeSidecar: false, preStopSleepSeconds: 7, drainTimeoutSeconds: 30 };
  const [deploy] = documents(inject(await fixture('deployment.yaml'), opts));
  assertKubernetesShape(deploy!);
  const t = podTemplate(deploy!);
  const c = sidecarOf(t, false);
  assert.equal(c.restartPolicy, undefined);
  assert.equal(c.startupProbe, undefined);
  assert.deepEqual(c.lifecycle?.preStop?.exec?.command, ['sleep', '7']);
  assert.deepEqual(t.spec?.containers.map((x) => x.name), ['app', 'outrider']);
  assert.deepEqual(t.spec?.initContainers?.map((x) => x.name), ['fetch-models']);
  assert.equal(t.spec?.terminationGracePeriodSeconds, 42, '7 s sleep + 30 s drain + 5 s margin');

  const errors = refusals(await fixture('multi.yaml'), opts);
  assert.equal(errors.length, 2);
  assert.match(errors[0]!, /^document 3 \(CronJob "nightly-eval"\): cannot inject: its restartPolicy is OnFailure/);
  assert.match(errors[1]!, /^document 7 \(Job "backfill"\): cannot inject: its restartPolicy is Never .*native sidecar/);
});

test('refuses clearly what it cannot inject, naming the document and kind', async () => {
  const [hostNet] = refusals(await fixture('refuse-host-network.yaml'));
  assert.match(hostNet!, /^document 2 \(Pod "metrics-agent"\): cannot inject: container "agent" already uses containerPort 9901, the sidecar's admin port \(the pod uses the host network.*--admin-port$/);

  const [foreign] = refusals(await fixture('refuse-foreign-sidecar.yaml'));
  assert.match(foreign!, /^document 1 \(Deployment "handmade"\): cannot inject: it already has a container named "outrider" that Outrider did not inject/);

  const [port] = refusals(await fixture('pod.yaml'), { dataPort: 3000 });
  assert.match(port!, /container "app" already uses containerPort 3000, the sidecar's data port; choose another with --data-port/);

  const volume = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: b}]\n  volumes: [{name: outrider-config, emptyDir: {}}]\n';
  assert.match(refusals(volume)[0]!, /already has a volume named "outrider-config"/);

  const nameless = 'apiVersion: v1\nkind: Pod\nmetadata: {generateName: p-}\nspec: {containers: [{name: a, image: b}]}\n';
  assert.match(refusals(nameless)[0]!, /^document 1 \(Pod\): cannot inject: cannot name its ConfigMap.*--config-map/);
  assert.ok(injectManifest(nameless, { ...DEFAULT_OPTIONS, configMap: 'shared-policy' }).ok);

  const noContainers = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {}}}\n';
  assert.match(refusals(noContainers)[0]!, /^document 1 \(Deployment "d"\): cannot inject: spec\.template\.spec\.containers must be a non-empty list/);

  const broken = 'apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: [\n';
  assert.match(refusals(broken)[0]!, /^document 2: invalid YAML/);
});

test('unknown kinds, empty documents and opted-out pods pass through untouched', async () => {
  const src = [
    '# only a comment\n',
    '---\napiVersion: example.com/v1\nkind: Model\nspec: {template: {spec: {containers: [{name: a}]}}}\n',
    '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: opted-out\n  annotations: {outrider.io/inject: "false"}\nspec:\n  containers: [{name: a, image: b}]\n',
    '---\n',
  ].join('');
  const r = injectManifest(src, DEFAULT_OPTIONS);
  assert.ok(r.ok);
  assert.equal(r.text, src);
  assert.equal(r.injected, 0);
  assert.deepEqual(r.notes, ['document 2 (Pod "opted-out"): skipped: outrider.io/inject is "false"']);
  assert.equal(injectManifest('', DEFAULT_OPTIONS).ok, true);
});

test('ConfigMap name: annotation, then --config-map, then the workload, then labels, then the pod name', () => {
  const pod = (meta: string) => `apiVersion: v1\nkind: Pod\nmetadata: ${meta}\nspec: {containers: [{name: a, image: b}]}\n`;
  const configMap = (src: string, opts: Partial<InjectOptions> = {}) => {
    const t = podTemplate(documents(inject(src, opts))[0]!);
    return t.spec?.volumes?.find((v) => v.name === 'outrider-config')?.configMap?.name;
  };
  assert.equal(configMap(pod('{name: p, labels: {app: web}, annotations: {outrider.io/config-map: pinned}}'), { configMap: 'flag' }), 'pinned');
  assert.equal(configMap(pod('{name: p, labels: {app: web}}'), { configMap: 'flag' }), 'flag');
  assert.equal(configMap(pod('{name: p, labels: {app: web, app.kubernetes.io/name: site}}')), 'site-outrider');
  assert.equal(configMap(pod('{name: p, labels: {app: web}}')), 'web-outrider');
  assert.equal(configMap(pod('{name: p}')), 'p-outrider');
});

test('options: image, ports, resources; invalid options are reported', async () => {
  const opts: Partial<InjectOptions> = {
    image: 'registry.example.com/outrider:dev', dataPort: 18080, adminPort: 19901, configMap: 'policies',
    resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } },
  };
  const [deploy] = documents(inject(await fixture('deployment.yaml'), opts));
  assertKubernetesShape(deploy!);
  const t = podTemplate(deploy!);
  const c = sidecarOf(t);
  assert.equal(c.image, 'registry.example.com/outrider:dev');
  assert.deepEqual(c.env?.map((e) => e.value), ['0.0.0.0:18080', '0.0.0.0:19901']);
  assert.deepEqual(c.ports?.map((p) => p.containerPort), [18080, 19901]);
  assert.deepEqual(c.resources, { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } });
  assert.equal(t.metadata?.annotations?.['prometheus.io/port'], '19901');
  assert.equal(t.spec?.volumes?.find((v) => v.name === 'outrider-config')?.configMap?.name, 'policies');

  assert.deepEqual(checkOptions(DEFAULT_OPTIONS), []);
  const bad = checkOptions({ ...DEFAULT_OPTIONS, dataPort: 9901, image: '', configMap: 'Not_Valid', resources: { requests: { cpu: 'lots' }, limits: {} } });
  assert.equal(bad.length, 4, bad.join('\n'));
  assert.match(bad.join('\n'), /--data-port and --admin-port must differ/);
});

test('flow-style YAML and JSON documents are injected correctly and stay idempotent', async () => {
  const flow = '# flow style\n{apiVersion: v1, kind: Pod, metadata: {name: f}, spec: {containers: [{name: a, image: b}]}}\n';
  const out = inject(flow);
  assert.ok(out.startsWith('# flow style\n'));
  const [pod] = documents(out);
  assertKubernetesShape(pod!);
  assert.equal(sidecarOf(podTemplate(pod!)).name, 'outrider');
  assert.equal(inject(out), out);

  const listOut = inject(await fixture('list.json'));
  const list = JSON.parse(listOut) as { items: Record<string, unknown>[] };
  assert.equal(sidecarOf(podTemplate(list.items[0]!)).image, DEFAULT_OPTIONS.image);
  assert.deepEqual(list.items[1], JSON.parse(await fixture('list.json')).items[1]);
  assert.ok(listOut.startsWith('{\n  "apiVersion": "v1",\n'), 'written back as JSON with its indentation');
});

test('edge layouts: CRLF line ends, no final newline, block scalars, anchors, an empty annotations key', () => {
  const pod = (meta: string, containerTail = '') => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n${meta}spec:\n  containers:\n  - name: a\n    image: b\n${containerTail}`;
  const layouts: Record<string, string> = {
    crlf: pod('').replaceAll('\n', '\r\n'),
    noFinalNewline: pod('').trimEnd(),
    blockScalars: pod('  annotations:\n    note: |\n      line one\n      line two\n\n', '    command:\n    - sh\n    - -c\n    - |+\n      echo hi\n\n'),
    anchors: pod('  labels: &l\n    app: a\n', '  nodeSelector: *l\n'),
    emptyAnnotations: pod('  annotations:\n'),
  };
  for (const [name, src] of Object.entries(layouts)) {
    const out = inject(src);
    const [obj] = documents(out);
    assertKubernetesShape(obj!);
    assert.equal(sidecarOf(podTemplate(obj!)).name, 'outrider', name);
    assert.equal(inject(out), out, `${name}: idempotent`);
  }
  const crlf = inject(layouts['crlf']!);
  assert.doesNotMatch(crlf, /[^\r]\n/, 'CRLF stays CRLF');
  assert.equal(podTemplate(documents(inject(layouts['anchors']!))[0]!).spec!.nodeSelector?.['app'], 'a');
});
