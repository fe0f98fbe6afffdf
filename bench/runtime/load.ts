// The load the scenarios drive, from the bench process (pinned to the load CPU): a closed loop
// of N clients, one client at a time, and an open loop at a fixed rate that keeps every answer.
import { setTimeout as sleep } from 'node:timers/promises';
import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';

const HEADERS = { 'content-type': 'application/json' };
const REQUEST_TIMEOUT_MS = 30_000;

export function histogram(): hdr.Histogram {
  // Microseconds, 3 significant digits, up to a minute.
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

function pool(url: URL, connections: number | null): Pool {
  return new Pool(url.origin, { connections, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: 60_000 });
}

export interface Answer {
  readonly status: number;          // 0: no HTTP answer (connect error, reset, timeout)
  readonly us: number;              // send to the last body byte
  readonly backend: string | null;  // x-outrider-backend
  readonly error: string | null;    // the error code of a JSON error body, or the client error
  readonly requestId: string | null; // x-request-id of the answer: joins it to Outrider's access-log line
}

async function send(p: Pool, path: string, body: Buffer): Promise<Answer> {
  const t0 = performance.now();
  try {
    const res = await p.request({ path, method: 'POST', headers: HEADERS, body });
    const header = (name: string): string | null => {
      const v = res.headers[name];
      return typeof v === 'string' ? v : null;
    };
    const backend = header('x-outrider-backend');
    const requestId = header('x-request-id');
    if (res.statusCode === 200) {
      await res.body.dump();
      return { status: 200, us: (performance.now() - t0) * 1000, backend, error: null, requestId };
    }
    const text = await res.body.text();
    let code = text.slice(0, 200);
    try { code = (JSON.parse(text) as { error: { code: string } }).error.code; } catch { /* not a JSON error body: keep its start */ }
    return { status: res.statusCode, us: (performance.now() - t0) * 1000, backend, error: code, requestId };
  } catch (e) {
    return { status: 0, us: (performance.now() - t0) * 1000, backend: null, error: (e as Error & { code?: string }).code ?? (e as Error).message, requestId: null };
  }
}

export interface ClosedLoopResult {
  readonly clients: number;
  readonly seconds: number;
  /** 200 answers that ended inside the measured window */
  readonly completed: number;
  readonly perSecond: number;
  readonly failed: number;
  readonly firstError: string | null;
  readonly p50Us: number;
  readonly p99Us: number;
}

/**
 * `clients` connections, each sending the next request as soon as the previous answer is read,
 * for `warmupS` unmeasured then `durationS` measured seconds. Only answers that end inside the
 * measured window count; failures count over the whole run.
 */
export async function closedLoop(url: string, body: Buffer, clients: number, warmupS: number, durationS: number): Promise<ClosedLoopResult> {
  const u = new URL(url);
  const p = pool(u, clients);
  const latency = histogram();
  const from = performance.now() + warmupS * 1000;
  const to = from + durationS * 1000;
  let completed = 0;
  let failed = 0;
  let firstError: string | null = null;
  try {
    await Promise.all(Array.from({ length: clients }, async () => {
      while (performance.now() < to) {
        const a = await send(p, u.pathname, body);
        const end = performance.now();
        if (a.status !== 200) {
          failed++;
          firstError ??= `${a.status} ${a.error ?? ''}`.trim();
          // A failing target answers fast: do not spin on it.
          await sleep(10);
        } else if (end >= from && end <= to) {
          completed++;
          latency.recordValue(Math.max(1, Math.round(a.us)));
        }
      }
    }));
  } finally {
    await p.close();
  }
  return {
    clients, seconds: durationS, completed, perSecond: completed / durationS, failed, firstError,
    p50Us: latency.getValueAtPercentile(50), p99Us: latency.getValueAtPercentile(99),
  };
}

/** One connection, one request at a time: latency without queueing. */
export class OneClient {
  readonly #pool: Pool;
  readonly #url: URL;

  constructor(url: string) {
    this.#url = new URL(url);
    this.#pool = pool(this.#url, 1);
  }

  /** Opens the connection with a GET that matches no route, so no first-request timing pays for the client's TCP connect. */
  async connect(): Promise<void> {
    const res = await this.#pool.request({ path: '/outrider-bench-connect', method: 'GET' });
    await res.body.dump();
  }

  send(body: Buffer, path = this.#url.pathname): Promise<Answer> {
    return send(this.#pool, path, body);
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

export interface PacedRecord extends Answer {
  readonly sentAt: number;   // performance.now()
  readonly doneAt: number;
}

export interface PacedRun {
  /** Stops sending; resolves once every request sent has been answered, in sending order. Idempotent. */
  stop(): Promise<PacedRecord[]>;
  /** Requests sent so far. */
  readonly sent: number;
}

/**
 * Open loop: `rate` requests per second on a fixed schedule whatever the answers do, so a
 * failure or a stall shows in the records instead of silently lowering the rate.
 */
export function paced(url: string, body: Buffer, rate: number): PacedRun {
  const u = new URL(url);
  const p = pool(u, null);
  const records: Promise<PacedRecord>[] = [];
  const interval = 1000 / rate;
  const start = performance.now();
  let stopped = false;
  let stopping: Promise<PacedRecord[]> | null = null;
  const loop = (async () => {
    let sent = 0;
    while (!stopped) {
      // Timers fire at best every millisecond: send everything that has come due since the last tick.
      const due = Math.floor((performance.now() - start) / interval) + 1;
      for (; sent < due; sent++) {
        const sentAt = performance.now();
        records.push(send(p, u.pathname, body).then((a) => ({ ...a, sentAt, doneAt: performance.now() })));
      }
      await sleep(Math.max(0, start + sent * interval - performance.now()));
    }
  })();
  return {
    get sent() { return records.length; },
    stop() {
      stopped = true;
      stopping ??= (async () => {
        await loop;
        const all = await Promise.all(records);
        await p.close();
        return all;
      })();
      return stopping;
    },
  };
}
