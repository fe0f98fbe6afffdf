// Load A: closed-loop throughput with a fixed number of connections, by wrk (a C load generator
// that stays out of the way of what it measures) or, where wrk is missing, autocannon.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { REQUEST_BODY } from './payload.ts';
import { findExecutable } from './processes.ts';
import type { Processes } from './processes.ts';

export interface ThroughputResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly errors: number;       // connect/read/write errors, timeouts and non-2xx answers
  readonly p50Us: number;
  readonly p99Us: number;
}

export interface LoadGenerator {
  readonly kind: 'wrk' | 'autocannon';
  readonly version: string;
  run(processes: Processes, url: string, connections: number, seconds: number, cpu: number | null): Promise<ThroughputResult>;
}

/** wrk when installed (or asked for), else autocannon; request body files go in `dir`. */
export function loadGenerator(wanted: 'wrk' | 'autocannon' | null, dir: string): LoadGenerator {
  const wrk = findExecutable('wrk');
  if (wanted === 'wrk' && wrk === null) throw new Error('--loadgen wrk: wrk is not installed');
  const bodyFile = join(dir, 'request-body.json');
  writeFileSync(bodyFile, REQUEST_BODY);
  if (wrk !== null && wanted !== 'autocannon') return wrkGenerator(wrk, bodyFile, dir);
  return autocannonGenerator(bodyFile);
}

function wrkGenerator(bin: string, bodyFile: string, dir: string): LoadGenerator {
  const script = join(dir, 'post.lua');
  // done() prints one JSON line; JSON string syntax is a valid Lua string for this plain path.
  writeFileSync(script, `wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(${JSON.stringify(bodyFile)}, "rb"))
wrk.body = f:read("*a")
f:close()

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"durationUs":%d,"errors":%d,"p50Us":%d,"p99Us":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`);
  const banner = spawnSync(bin, ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  return {
    kind: 'wrk',
    version: banner.replace(/ Copyright.*$/, '').trim() || 'wrk',
    async run(processes, url, connections, seconds, cpu) {
      // One thread: the generator shares its CPU with the upstream, like the reference placement.
      const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', script, url];
      const { stdout } = await processes.run('wrk', bin, args, { cpu }, (seconds + 30) * 1000);
      const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
      if (line === undefined) throw new Error(`wrk printed no result:\n${stdout}`);
      const r = JSON.parse(line) as { requests: number; durationUs: number; errors: number; p50Us: number; p99Us: number };
      const secs = r.durationUs / 1e6;
      return { requests: r.requests, seconds: secs, rps: r.requests / secs, errors: r.errors, p50Us: r.p50Us, p99Us: r.p99Us };
    },
  };
}

interface AutocannonJson {
  readonly duration: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly requests: { readonly total: number };
  readonly latency: { readonly p50: number; readonly p99: number };
}

function autocannonGenerator(bodyFile: string): LoadGenerator {
  const require = createRequire(import.meta.url);
  const cli = require.resolve('autocannon');
  const { version } = require('autocannon/package.json') as { version: string };
  return {
    kind: 'autocannon',
    version: `autocannon ${version}`,
    async run(processes, url, connections, seconds, cpu) {
      const args = [cli, '-c', String(connections), '-d', String(seconds), '-m', 'POST', '-i', bodyFile,
        '-H', 'content-type=application/json', '--json', url];
      const { stdout } = await processes.run('autocannon', process.execPath, args, { cpu }, (seconds + 30) * 1000);
      const r = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as AutocannonJson;
      return {
        requests: r.requests.total,
        seconds: r.duration,
        rps: r.requests.total / r.duration,
        errors: r.errors + r.timeouts + r.non2xx,
        p50Us: r.latency.p50 * 1000,
        p99Us: r.latency.p99 * 1000,
      };
    },
  };
}
