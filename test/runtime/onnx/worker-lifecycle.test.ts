// The worker's process life over real IPC: readiness only after warmup, fatal start errors
// (CUDA on a machine without it, missing or corrupt model, bad sample), cpuFallback, drain,
// SIGTERM, and exiting when the supervisor goes away.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { WorkerInit } from '../../../runtime/protocol.ts';
import { onnxConfig, postJson, spawnWorker, startWorker, type WorkerHandle } from './worker-harness.ts';

const spawned: WorkerHandle[] = [];
const track = (w: WorkerHandle) => { spawned.push(w); return w; };
const tmp = await mkdtemp(join(tmpdir(), 'outrider-onnx-'));
after(async () => {
  await Promise.all(spawned.map((w) => w.kill()));
  await rm(tmp, { recursive: true, force: true });
});

const body = { inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: new Array(64).fill(0.5) }] };

async function expectFatal(w: WorkerHandle, message: RegExp): Promise<void> {
  const fatal = await w.next('fatal');
  assert.match(fatal.message, message);
  const { code } = await w.exited();
  assert.equal(code, 1);
  assert.equal(w.messages.some((m) => m.type === 'ready'), false);
}

// Each case starts its own worker processes; running them side by side keeps the file short.
describe('onnx worker process life', { concurrency: 4 }, () => {
  test('ready only after warmup: model endpoints answer 503 while warming, live answers 200', async () => {
    // Enough warmup requests to leave a window to probe.
    const w = track(spawnWorker(onnxConfig('mlp', 'mlp.onnx', { batching: { maxBatchSize: 1, maxQueueDelay: 0 }, warmup: { iterations: 600 } })));
    const { port } = await w.next('listening');
    const origin = `http://127.0.0.1:${port}`;
    await w.next('warming');
    const probes = await Promise.all([
      fetch(`${origin}/v2/health/ready`),
      fetch(`${origin}/v2/models/mlp/ready`),
      postJson(`${origin}/v2/models/mlp/infer`, body),
      fetch(`${origin}/v2/health/live`),
    ]);
    const readyYet = w.messages.some((m) => m.type === 'ready');
    assert.equal(readyYet, false, 'warmup should outlast the probes; raise warmup.iterations if this machine is fast');
    assert.equal(probes[0].status, 503);
    assert.equal(probes[0].headers.get('retry-after'), '1');
    assert.equal(((await probes[0].json()) as { error: { code: string } }).error.code, 'unavailable');
    assert.equal(probes[1].status, 503);
    assert.equal(probes[2].status, 503);
    assert.match(probes[2].json.error.message, /not ready yet \(warming up\)/);
    assert.equal(probes[3].status, 200);
    const ready = await w.next('ready', 60_000);
    assert.ok(ready.warmupSeconds > 0);
    assert.equal((await fetch(`${origin}/v2/health/ready`)).status, 200);
    assert.equal((await postJson(`${origin}/v2/models/mlp/infer`, body)).status, 200);
    assert.deepEqual(w.messages.map((m) => m.type), ['listening', 'warming', 'ready']);
  });

  test('device cuda without CUDA -> fatal naming the cause and the way out, exit 1', async () => {
    const w = track(spawnWorker(onnxConfig('mlp', 'mlp.onnx', { device: 'cuda', cudaDevice: 1 }), { CUDA_VISIBLE_DEVICES: '1' }));
    await expectFatal(w, /^CUDA execution provider not available \(device 0\): .+; set cpuFallback: true to run on CPU$/);
  });

  test('device cuda with cpuFallback -> a warning, then ready on CPU', async () => {
    const w = track(await startWorker(onnxConfig('mlp', 'mlp.onnx', { device: 'cuda', cpuFallback: true })));
    assert.equal((await postJson(`${w.origin}/v2/models/mlp/infer`, body)).status, 200);
    assert.match(w.stdout(), /CUDA execution provider not available.*running on CPU because cpuFallback is true/);
  });

  test('a missing or corrupt model, or a bad init -> fatal with a clear message, exit 1', async () => {
    await expectFatal(track(spawnWorker(onnxConfig('mlp', join(tmp, 'nope.onnx')))), /^model file not found: .*nope\.onnx$/);
    const corrupt = join(tmp, 'corrupt.onnx');
    await writeFile(corrupt, 'this is not a protobuf');
    await expectFatal(track(spawnWorker(onnxConfig('mlp', corrupt))), /^cannot load model .*corrupt\.onnx: .*(Protobuf|parsing)/i);
    const bad = track(spawnWorker(onnxConfig('mlp', 'mlp.onnx'), { OUTRIDER_WORKER: '{"runtime":{}}' }));
    await expectFatal(bad, /^OUTRIDER_WORKER is not a WorkerInit: runtime.kind must be "onnx"/);
  });

  test('warmup.sample: a KServe body is used; one that does not fit the model is a fatal error', async () => {
    const good = join(tmp, 'sample.json');
    await writeFile(good, JSON.stringify({ inputs: [{ name: 'input', shape: [2, 64], datatype: 'FP32', data: new Array(128).fill(0.1) }] }));
    const w = track(await startWorker(onnxConfig('mlp', 'mlp.onnx', { batching: { maxBatchSize: 4, maxQueueDelay: 1 }, warmup: { iterations: 3, sample: good } })));
    assert.equal((await postJson(`${w.origin}/v2/models/mlp/infer`, body)).status, 200);
    const wrong = join(tmp, 'wrong.json');
    await writeFile(wrong, JSON.stringify({ inputs: [{ name: 'input', shape: [1, 32], datatype: 'FP32', data: new Array(32).fill(0) }] }));
    await expectFatal(track(spawnWorker(onnxConfig('mlp', 'mlp.onnx', { warmup: { iterations: 3, sample: wrong } }))), /warmup\.sample .*wrong\.json is not a valid KServe v2 infer request for this model: input "input": expected shape \[N,64\], got \[1,32\]/);
  });

  test('drain: queued requests are answered, new connections refused, exit 0', async () => {
    const w = track(await startWorker(onnxConfig('mlp', 'mlp.onnx', { batching: { maxBatchSize: 64, maxQueueDelay: 5000 } })));
    const queued = [postJson(`${w.origin}/v2/models/mlp/infer`, body), postJson(`${w.origin}/v2/models/mlp/infer`, body)];
    for (let k = 0; k < 100; k++) {
      const depth = (await w.metrics()).find((m) => m.name === 'outrider_queue_depth')!.values[0]!.value;
      if (depth === 2) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const t0 = performance.now();
    w.send({ type: 'drain' });
    const answers = await Promise.all(queued);
    assert.deepEqual(answers.map((a) => a.status), [200, 200]);
    assert.ok(performance.now() - t0 < 2500, 'drain runs the queue at once, without waiting out maxQueueDelay');
    const { code } = await w.exited();
    assert.equal(code, 0);
    await assert.rejects(fetch(`${w.origin}/v2/health/live`));
  });

  test('SIGTERM drains the same way', async () => {
    const w = track(await startWorker(onnxConfig('mlp', 'mlp.onnx')));
    w.child.kill('SIGTERM');
    assert.deepEqual(await w.exited(), { code: 0, signal: null });
  });

  test('SIGTERM during warmup: a clean drain (exit 0, no fatal), never ready', async () => {
    const w = track(spawnWorker(onnxConfig('mlp', 'mlp.onnx', { batching: { maxBatchSize: 1, maxQueueDelay: 0 }, warmup: { iterations: 600 } })));
    await w.next('warming');
    w.child.kill('SIGTERM');
    assert.deepEqual(await w.exited(), { code: 0, signal: null });
    assert.equal(w.messages.some((m) => m.type === 'ready' || m.type === 'fatal'), false, JSON.stringify(w.messages.map((m) => m.type)));
  });

  test('the IPC channel closing makes the worker exit', async () => {
    const w = track(await startWorker(onnxConfig('mlp', 'mlp.onnx')));
    w.child.disconnect();
    const { code } = await w.exited();
    assert.equal(code, 0);
  });

  test('no orphan: when the supervisor process is SIGKILLed its worker exits', async () => {
    const init: WorkerInit = { runtime: onnxConfig('mlp', 'mlp.onnx'), replica: 0, host: '127.0.0.1' };
    const parent = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/fork-parent.ts', import.meta.url)), JSON.stringify(init)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let workerPid = 0;
    try {
      parent.stdout.setEncoding('utf8');
      const [line] = await once(parent.stdout, 'data') as [string];
      workerPid = Number(line.trim());
      assert.ok(workerPid > 0);
      parent.kill('SIGKILL');
      await once(parent, 'exit');
      const alive = () => { try { process.kill(workerPid, 0); return true; } catch { return false; } };
      for (let k = 0; k < 100 && alive(); k++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(alive(), false, `worker ${workerPid} outlived its supervisor`);
    } finally {
      parent.kill('SIGKILL');
      if (workerPid > 0) try { process.kill(workerPid, 'SIGKILL'); } catch { /* already gone */ }
    }
  });
});
