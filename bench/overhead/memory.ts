// The memory phase: a fresh Outrider, a fixed number of requests, its RSS sampled after a warm-up
// and after every further chunk. Growth after the warm-up is what a leak would look like.
import type { CountResult } from './client.ts';
import { runClient } from './measure.ts';
import { requestsCounted } from './outrider.ts';
import { rssBytes } from './processes.ts';
import type { Bench, Target } from './targets.ts';

export const MEMORY_WARMUP_REQUESTS = 10_000;
const CHUNK = 10_000;

export interface MemorySample {
  readonly requests: number;     // sent so far
  readonly rssBytes: number;
}

export interface MemoryResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  readonly startRssBytes: number;   // after start, before any request
  readonly warmRssBytes: number;    // after the warm-up
  readonly endRssBytes: number;
  readonly peakRssBytes: number;    // of the samples
  readonly growthPct: number;       // end vs warm
  /** End vs the sample halfway through: a leak keeps growing, a heap settling after the warm-up does not. */
  readonly secondHalfGrowthPct: number;
  readonly samples: readonly MemorySample[];
  /** outrider_requests_total at the end: the metrics saw every request. */
  readonly countedByMetrics: number | null;
}

export async function memoryPhase(bench: Bench, target: Target, total: number, connections: number): Promise<MemoryResult> {
  const pid = target.child?.pid;
  if (pid === undefined) throw new Error('the memory phase needs a proxy process');
  const startRssBytes = rssBytes(pid);
  const samples: MemorySample[] = [];
  let sent = 0;
  let errors = 0;
  let seconds = 0;
  while (sent < total) {
    const n = sent === 0 ? Math.min(MEMORY_WARMUP_REQUESTS, total) : Math.min(CHUNK, total - sent);
    const r = await runClient<CountResult>(bench.processes, bench.placement.loadCpu, [
      'count', '--url', target.url, '--requests', String(n), '--connections', String(connections),
    ], 120);
    sent += n;
    errors += r.errors;
    seconds += r.seconds;
    samples.push({ requests: sent, rssBytes: rssBytes(pid) });
  }
  const warm = samples[0]?.rssBytes ?? startRssBytes;
  const end = samples.at(-1)?.rssBytes ?? startRssBytes;
  const half = samples.find((x) => x.requests >= sent / 2)?.rssBytes ?? warm;
  return {
    requests: sent,
    errors,
    seconds,
    startRssBytes,
    warmRssBytes: warm,
    endRssBytes: end,
    peakRssBytes: Math.max(...samples.map((s) => s.rssBytes)),
    growthPct: ((end - warm) / warm) * 100,
    secondHalfGrowthPct: ((end - half) / half) * 100,
    samples,
    countedByMetrics: target.admin === null ? null : await requestsCounted(target.admin),
  };
}
