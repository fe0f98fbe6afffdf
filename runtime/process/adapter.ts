// `kind: process`: any server (Triton, vLLM, a Python script) started from `command`, with
// ${PORT} in its arguments, env values and health path replaced by the port it is given.
// It is healthy when GET health.path answers 2xx; then the warmup requests are sent; while
// ready it keeps being probed and `failureThreshold` failures in a row take it out.
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import type { ProcessRuntimeConfig } from '../../proxy/config/types.ts';
import { pipeOutput, terminate } from '../child.ts';
import { visibleDevices } from '../devices.ts';
import { formatMs } from '../format-ms.ts';
import type { Launch, LaunchEvents, ReplicaAdapter } from '../replica.ts';
import { freePort } from './free-port.ts';
import { probe, warmUp } from './probe.ts';
import { GuardedProcess, type ParentDeathGuard } from './spawn.ts';

/** A server that is up answers soon; do not make it wait a whole interval for its first probe. */
const FIRST_PROBE_MS = 100;
const NO_ANSWER = 'none answered';

export interface ProcessAdapterOptions {
  readonly guard: () => Promise<ParentDeathGuard>;
}

export class ProcessAdapter implements ReplicaAdapter {
  readonly device: string | null;
  private readonly runtime: ProcessRuntimeConfig;
  private readonly guard: () => Promise<ParentDeathGuard>;

  constructor(runtime: ProcessRuntimeConfig, ordinal: number, opts: ProcessAdapterOptions) {
    this.runtime = runtime;
    this.device = visibleDevices(runtime, ordinal);
    this.guard = opts.guard;
  }

  async launch(events: LaunchEvents): Promise<Launch> {
    const guard = await this.guard();
    const port = String(await freePort());
    const withPort = (s: string): string => s.replaceAll('${PORT}', port);
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [key, value] of Object.entries(this.runtime.env)) env[key] = withPort(value);
    env.PORT = port;
    if (this.device !== null) env.CUDA_VISIBLE_DEVICES = this.device;
    const proc = new GuardedProcess(this.runtime.command.map(withPort), { cwd: this.runtime.cwd, env }, guard);
    return new ProcessLaunch(this.runtime, proc, `http://127.0.0.1:${port}`, withPort(this.runtime.health.path), events);
  }
}

class ProcessLaunch implements Launch {
  private readonly runtime: ProcessRuntimeConfig;
  private readonly proc: GuardedProcess;
  private readonly events: LaunchEvents;
  private readonly healthPath: string;
  private readonly client: Client;
  /** Aborted when the replica is stopped, killed or gone: ends probing and warmup. */
  private readonly done = new AbortController();
  private ending: Promise<void> | null = null;

  constructor(runtime: ProcessRuntimeConfig, proc: GuardedProcess, origin: string, healthPath: string, events: LaunchEvents) {
    this.runtime = runtime;
    this.proc = proc;
    this.events = events;
    this.healthPath = healthPath;
    this.client = new Client(origin);
    const stderr = pipeOutput(proc.child, events.log);
    proc.onExit((reason) => {
      this.done.abort();
      void this.client.destroy();
      void stderr.report(reason, events.exited, events.explain);
    });
    events.listening(origin);
    void this.supervise();
  }

  get pid(): number | null { return this.proc.pid; }

  drain(): Promise<void> { return this.end(); }

  kill(): Promise<void> { return this.end(); }

  metrics(): Promise<unknown[] | null> { return Promise.resolve(null); }

  /** SIGTERM to the group (servers finish in-flight requests on it), SIGKILL after stopGrace. */
  private end(): Promise<void> {
    this.done.abort();
    this.ending ??= terminate(this.proc.child, [
      { send: () => this.proc.signal('SIGTERM'), wait: this.runtime.stopGrace },
      { send: () => this.proc.signal('SIGKILL'), wait: Infinity },
    ]);
    return this.ending;
  }

  private async supervise(): Promise<void> {
    const signal = this.done.signal;
    try {
      const unhealthy = await this.untilHealthy(signal);
      if (signal.aborted) return;
      if (unhealthy !== null) {
        this.events.failed(unhealthy);
        return;
      }
      this.events.warming();
      const started = performance.now();
      // The warmup gets a budget as long as the startup one: first inferences may compile kernels.
      const failure = await warmUp(this.client, this.runtime.warmup, this.runtime.health.startupTimeout, signal);
      if (signal.aborted) return;
      if (failure !== null) {
        this.events.failed(failure);
        return;
      }
      this.events.ready((performance.now() - started) / 1000);
      await this.watch(signal);
    } catch (err) {
      // An abort while sleeping between probes is the normal way out.
      if (!signal.aborted) this.events.failed(`health checking failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** null once healthy, else why not within startupTimeout. */
  private async untilHealthy(signal: AbortSignal): Promise<string | null> {
    const { health } = this.runtime;
    const deadline = Date.now() + health.startupTimeout;
    let last = NO_ANSWER;
    let wait = Math.min(health.interval, FIRST_PROBE_MS);
    for (;;) {
      if (deadline - Date.now() <= 0) break;
      await sleep(Math.min(wait, deadline - Date.now()), undefined, { signal });
      const left = deadline - Date.now();
      if (left <= 0) break;
      const cut = left < health.timeout;
      const result = await probe(this.client, this.healthPath, cut ? left : health.timeout, signal);
      if (result.ok || signal.aborted) return null;
      // A probe cut short by the deadline says less than the one before it.
      if (!(cut && result.timedOut === true && last !== NO_ANSWER)) last = result.detail;
      wait = health.interval;
    }
    return `not healthy within ${formatMs(health.startupTimeout)} (last probe: ${last})`;
  }

  private async watch(signal: AbortSignal): Promise<void> {
    const { health } = this.runtime;
    let failures = 0;
    for (;;) {
      await sleep(health.interval, undefined, { signal });
      const result = await probe(this.client, this.healthPath, health.timeout, signal);
      if (signal.aborted) return;
      if (result.ok) {
        failures = 0;
        continue;
      }
      failures++;
      if (failures >= health.failureThreshold) {
        this.events.failed(`health probe failed ${failures} times in a row (last: ${result.detail})`);
        return;
      }
    }
  }
}
