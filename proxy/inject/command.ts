// `outrider inject -f pod.yaml` (SPEC §1), and the injection flags it shares with `outrider webhook`.
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../config/units.ts';
import { DEFAULT_OPTIONS, checkOptions, isQuantity } from './options.ts';
import type { InjectOptions } from './options.ts';
import { injectManifest } from './manifest.ts';

export interface InjectFlags {
  readonly image: string;
  readonly configMap?: string;
  readonly dataPort: number;
  readonly adminPort: number;
  readonly nativeSidecar: boolean;
  readonly drainTimeout: number;
  readonly prestopSleep: number;
  readonly cpuRequest: string;
  readonly memoryRequest: string;
  readonly cpuLimit?: string;
  readonly memoryLimit: string;
}

/** Adds the flags that shape the sidecar; the defaults are DEFAULT_OPTIONS. */
export function addInjectFlags(cmd: Command): Command {
  const d = DEFAULT_OPTIONS;
  return cmd
    .option('--image <ref>', 'the Outrider image', d.image)
    .option('--config-map <name>', 'the ConfigMap with outrider.yaml (default: "<workload-name>-outrider", or the pod\'s outrider.io/config-map annotation)')
    .option('--data-port <port>', 'the data port, OUTRIDER_DATA=0.0.0.0:<port>', port, d.dataPort)
    .option('--admin-port <port>', 'the admin port (probes, metrics), OUTRIDER_ADMIN=0.0.0.0:<port>', port, d.adminPort)
    .option('--no-native-sidecar', 'add a regular container with a preStop sleep instead of an init container with restartPolicy: Always (for Kubernetes < 1.29)')
    .addOption(new Option('--drain-timeout <duration>', 'the policy\'s limits.drainTimeout: sizes terminationGracePeriodSeconds').argParser(seconds).default(d.drainTimeoutSeconds, `${d.drainTimeoutSeconds}s`))
    .addOption(new Option('--prestop-sleep <duration>', 'with --no-native-sidecar: how long the sidecar keeps serving before SIGTERM').argParser(seconds).default(d.preStopSleepSeconds, `${d.preStopSleepSeconds}s`))
    .option('--cpu-request <quantity>', 'the sidecar\'s CPU request', quantity, d.resources.requests['cpu'])
    .option('--memory-request <quantity>', 'the sidecar\'s memory request', quantity, d.resources.requests['memory'])
    .addOption(new Option('--cpu-limit <quantity>', 'the sidecar\'s CPU limit (default: none)').argParser(quantity))
    .option('--memory-limit <quantity>', 'the sidecar\'s memory limit', quantity, d.resources.limits['memory']);
}

export function injectOptionsFrom(f: InjectFlags): InjectOptions {
  const limits: Record<string, string> = { memory: f.memoryLimit };
  if (f.cpuLimit !== undefined) limits['cpu'] = f.cpuLimit;
  return {
    image: f.image,
    configMap: f.configMap,
    dataPort: f.dataPort,
    adminPort: f.adminPort,
    nativeSidecar: f.nativeSidecar,
    drainTimeoutSeconds: f.drainTimeout,
    preStopSleepSeconds: f.prestopSleep,
    resources: { requests: { cpu: f.cpuRequest, memory: f.memoryRequest }, limits },
  };
}

export function injectCommand(): Command {
  const cmd = new Command('inject')
    .description('print a Kubernetes manifest with the Outrider sidecar added (like istioctl kube-inject)')
    .requiredOption('-f, --filename <file>', 'the manifest (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, List; several documents allowed); "-" reads standard input')
    .showHelpAfterError();
  return addInjectFlags(cmd).action(async (flags: InjectFlags & { filename: string }) => {
    process.exitCode = await runInject(flags);
  });
}

async function runInject(flags: InjectFlags & { filename: string }): Promise<number> {
  const opts = injectOptionsFrom(flags);
  const bad = checkOptions(opts);
  if (bad.length > 0) return fail(bad);
  let src: string;
  try {
    src = flags.filename === '-' ? await readStdin() : await readFile(flags.filename, 'utf8');
  } catch (e) {
    return fail([`cannot read ${flags.filename}: ${(e as Error).message}`]);
  }
  const r = injectManifest(src, opts);
  if (!r.ok) return fail(r.errors);
  for (const note of r.notes) process.stderr.write(`outrider inject: ${note}\n`);
  process.stdout.write(r.text);
  return 0;
}

function fail(messages: readonly string[]): number {
  for (const m of messages) process.stderr.write(`outrider inject: ${m}\n`);
  return 1;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function port(v: string): number {
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || n < 1 || n > 65535) throw new InvalidArgumentError('expected a port from 1 to 65535.');
  return n;
}

function seconds(v: string): number {
  try {
    return parseDuration(v) / 1000;
  } catch (e) {
    throw new InvalidArgumentError(`${(e as Error).message}.`);
  }
}

function quantity(v: string): string {
  if (!isQuantity(v)) throw new InvalidArgumentError('expected a Kubernetes quantity such as "250m", "1" or "256Mi".');
  return v;
}
