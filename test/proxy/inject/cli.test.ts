// The real `outrider inject` process: files, standard input, flags, exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { injectManifest } from '../../../proxy/inject/manifest.ts';
import { DEFAULT_OPTIONS } from '../../../proxy/inject/options.ts';
import { CLI, ROOT } from '../../helpers/outrider.ts';
import { FIXTURES, assertKubernetesShape, documents, fixture, podTemplate, sidecarOf } from './kube.ts';

async function outrider(args: readonly string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  proc.stdin.end(stdin ?? '');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

test('inject -f FILE prints the injected manifest; -f - reads standard input', async () => {
  const src = await fixture('multi.yaml');
  const expected = injectManifest(src, DEFAULT_OPTIONS);
  assert.ok(expected.ok);
  const fromFile = await outrider(['inject', '-f', path.join(FIXTURES, 'multi.yaml')]);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.equal(fromFile.stdout, expected.text);
  const fromStdin = await outrider(['inject', '-f', '-'], src);
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  assert.equal(fromStdin.stdout, expected.text);
  // Piped twice, as people do: `outrider inject -f x | outrider inject -f -`.
  const again = await outrider(['inject', '-f', '-'], fromStdin.stdout);
  assert.equal(again.stdout, fromStdin.stdout);
  assert.match(again.stderr, /document 2 \(DaemonSet "node-scorer"\): skipped: already injected/);
});

test('flags shape the sidecar', async () => {
  const r = await outrider(['inject', '-f', path.join(FIXTURES, 'deployment.yaml'), '--image', 'registry.example.com/outrider:1',
    '--config-map', 'policy', '--data-port', '7000', '--admin-port', '7001', '--no-native-sidecar', '--drain-timeout', '45s',
    '--prestop-sleep', '3s', '--cpu-request', '500m', '--memory-request', '512Mi', '--cpu-limit', '2', '--memory-limit', '2Gi']);
  assert.equal(r.code, 0, r.stderr);
  const [deploy] = documents(r.stdout);
  assertKubernetesShape(deploy!);
  const t = podTemplate(deploy!);
  const c = sidecarOf(t, false);
  assert.equal(c.image, 'registry.example.com/outrider:1');
  assert.deepEqual(c.ports?.map((p) => p.containerPort), [7000, 7001]);
  assert.deepEqual(c.lifecycle?.preStop?.exec?.command, ['sleep', '3']);
  assert.deepEqual(c.resources, { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '2Gi', cpu: '2' } });
  assert.equal(t.spec?.terminationGracePeriodSeconds, 53);
  assert.equal(t.spec?.volumes?.find((v) => v.name === 'outrider-config')?.configMap?.name, 'policy');
});

test('refusals and bad input exit 1 with a clear message and print nothing on stdout', async () => {
  const refused = await outrider(['inject', '-f', path.join(FIXTURES, 'refuse-host-network.yaml')]);
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, '');
  assert.match(refused.stderr, /^outrider inject: document 2 \(Pod "metrics-agent"\): cannot inject: container "agent" already uses containerPort 9901/);

  const missing = await outrider(['inject', '-f', path.join(FIXTURES, 'no-such.yaml')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read .*no-such\.yaml: ENOENT/);

  const same = await outrider(['inject', '-f', '-', '--data-port', '9901'], await fixture('pod.yaml'));
  assert.equal(same.code, 1);
  assert.match(same.stderr, /--data-port and --admin-port must differ/);

  const badPort = await outrider(['inject', '-f', '-', '--admin-port', 'http']);
  assert.notEqual(badPort.code, 0);
  assert.match(badPort.stderr, /--admin-port <port>.*expected a port from 1 to 65535/);

  const badDuration = await outrider(['inject', '-f', '-', '--drain-timeout', '20']);
  assert.notEqual(badDuration.code, 0);
  assert.match(badDuration.stderr, /expected a duration such as "250ms" or "2s"/);

  const noFile = await outrider(['inject']);
  assert.notEqual(noFile.code, 0);
  assert.match(noFile.stderr, /required option '-f, --filename <file>'/);
});
