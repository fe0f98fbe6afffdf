// The node load client, run as its own (pinned) process; prints one JSON result line.
//   client.ts paced --url U --rate R --duration S --warmup S   load B: open loop at a fixed rate
//   client.ts count --url U --requests N --connections C        a fixed number of requests, closed loop
// Open loop means a request is sent on schedule whether or not earlier ones have answered, so a
// slow target shows up as latency instead of silently lowering the rate (coordinated omission).
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';
import { REQUEST_BODY } from './payload.ts';

export interface PacedResult {
  readonly sent: number;
  readonly completed: number;
  readonly errors: number;
  readonly seconds: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
  /** How late the client sent, against the schedule: large values mean the client, not the target, fell behind. */
  readonly sendLagP99Us: number;
  readonly sendLagMaxUs: number;
}

export interface CountResult {
  readonly completed: number;
  readonly errors: number;
  readonly seconds: number;
}

const HEADERS = { 'content-type': 'application/json' };
const REQUEST_TIMEOUT_MS = 10_000;

function histogram(): hdr.Histogram {
  // Microseconds, 3 significant digits, up to a minute.
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

class Target {
  readonly pool: Pool;
  readonly path: string;
  errors = 0;
  completed = 0;

  constructor(url: string, connections: number | null) {
    const u = new URL(url);
    this.path = u.pathname + u.search;
    this.pool = new Pool(u.origin, { connections, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS });
  }

  /**
   * One POST, body read to the end; resolves with its latency in microseconds, or null on error.
   * Through dispatch(), not request(): request()'s per-request closure keeps a fifth of the
   * client's allocation alive through scavenges (proxy/exchange.ts), and the client's own
   * 10-50 ms pauses then showed up in every target's p99, the direct baseline's included.
   */
  send(): Promise<number | null> {
    const t0 = performance.now();
    return new Promise((resolve) => {
      let status = 0;
      this.pool.dispatch({ path: this.path, method: 'POST', headers: HEADERS, body: REQUEST_BODY }, {
        onRequestStart: () => undefined,
        onResponseStart: (_controller, statusCode) => {
          status = statusCode;
        },
        onResponseData: () => undefined,
        onResponseEnd: () => {
          if (status !== 200) {
            this.errors++;
            resolve(null);
            return;
          }
          this.completed++;
          resolve(Math.max(1, Math.round((performance.now() - t0) * 1000)));
        },
        onResponseError: () => {
          this.errors++;
          resolve(null);
        },
      });
    });
  }
}

async function paced(url: string, rate: number, durationS: number, warmupS: number): Promise<PacedResult> {
  const target = new Target(url, null);
  await schedule(target, rate, warmupS, null, null);
  target.errors = 0;
  target.completed = 0;
  const latency = histogram();
  const lag = histogram();
  const start = performance.now();
  const sent = await schedule(target, rate, durationS, latency, lag);
  const seconds = (performance.now() - start) / 1000;
  await target.pool.close();
  return {
    sent,
    completed: target.completed,
    errors: target.errors,
    seconds,
    p50Us: latency.getValueAtPercentile(50),
    p90Us: latency.getValueAtPercentile(90),
    p99Us: latency.getValueAtPercentile(99),
    p999Us: latency.getValueAtPercentile(99.9),
    maxUs: latency.maxValue,
    sendLagP99Us: lag.getValueAtPercentile(99),
    sendLagMaxUs: lag.maxValue,
  };
}

/** Sends rate*seconds requests on an even schedule and waits for all of them. */
async function schedule(target: Target, rate: number, seconds: number, latency: hdr.Histogram | null, lag: hdr.Histogram | null): Promise<number> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const now = performance.now();
    // Timers fire at best every millisecond: send everything that has come due since the last tick.
    const due = Math.min(total, Math.floor((now - start) / interval) + 1);
    for (; sent < due; sent++) {
      lag?.recordValue(Math.max(1, Math.round((now - (start + sent * interval)) * 1000)));
      const p: Promise<void> = target.send().then((us) => {
        if (us !== null) latency?.recordValue(us);
        pending.delete(p);
      });
      pending.add(p);
    }
    if (sent < total) await sleep(Math.max(0, start + sent * interval - performance.now()));
  }
  await Promise.all(pending);
  return sent;
}

async function count(url: string, requests: number, connections: number): Promise<CountResult> {
  const target = new Target(url, connections);
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: connections }, async () => {
    while (next < requests) {
      next++;
      await target.send();
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  await target.pool.close();
  return { completed: target.completed, errors: target.errors, seconds };
}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string', default: '0' },
      requests: { type: 'string' },
      connections: { type: 'string', default: '16' },
    },
  });
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number`);
    return n;
  };
  if (values.url === undefined) throw new Error('--url is required');
  const mode = positionals[0];
  let result: PacedResult | CountResult;
  if (mode === 'paced') result = await paced(values.url, num('rate', values.rate), num('duration', values.duration), num('warmup', values.warmup));
  else if (mode === 'count') result = await count(values.url, num('requests', values.requests), num('connections', values.connections));
  else throw new Error('usage: client.ts paced|count --url URL ...');
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`client: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
