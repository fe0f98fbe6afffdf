// Medians over rounds, ratios and added latency paired within each round, what is printed, and
// the shape of bench/results/overhead-*.json.
import type { MachineFacts } from './machine.ts';
import type { RoundSample, ThroughputSample } from './measure.ts';
import type { MemoryResult } from './memory.ts';
import type { Options, TargetName } from './options.ts';
import type { LogCounts } from './outrider.ts';
import { formatProfile } from './profile-summary.ts';
import type { ProfileSummary, ProfileWindow } from './profile-summary.ts';

// The open-loop client sends on a 1 ms timer; beyond this it, not the target, is the bottleneck.
const SEND_LAG_WARN_US = 2_000;
// Other processes or the hypervisor taking more than this share of the proxy's CPU.
const NOISE_WARN_PCT = 5;

export interface OutriderHealth {
  readonly measuredRequests: number;      // answered in measured runs (warm-ups not counted)
  readonly requestsTotalMetric: number;   // sum of outrider_requests_total after the rounds
  readonly log: LogCounts;
}

export interface ProfileResult {
  readonly file: string;
  readonly window: ProfileWindow;
  readonly throughput: ThroughputSample;
  readonly summary: ProfileSummary;
}

export interface BenchResult {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: MachineFacts;
  readonly loadAverageAtEnd: number;
  readonly options: Options;
  readonly summary: readonly TargetSummary[];
  readonly samples: readonly RoundSample[];
  readonly outrider: OutriderHealth | null;
  readonly memory: MemoryResult | null;
  readonly profile: ProfileResult | null;
}

export interface TargetSummary {
  readonly target: TargetName;
  readonly rounds: number;
  readonly rps: number;
  readonly ratioToDirect: number | null;
  readonly ratioToNginx: number | null;
  readonly cpuUsPerRequest: number | null;
  readonly cpuUsPerRequestPaced: number | null;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly addedP50Us: number | null;
  readonly addedP99Us: number | null;
  readonly errors: number;          // summed over rounds, both loads
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function medianOrNull(values: readonly (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length === 0 ? null : median(present);
}

/**
 * Ratios and added latencies are taken per round against the baseline of the same round, then
 * the median: rounds interleave targets so that drift (thermal, noisy neighbours) hits all alike.
 */
export function summarize(samples: readonly RoundSample[], targets: readonly TargetName[]): TargetSummary[] {
  const at = (target: TargetName, round: number) => samples.find((s) => s.target === target && s.round === round);
  return targets.map((target) => {
    const mine = samples.filter((s) => s.target === target);
    const paired = (base: TargetName, f: (m: RoundSample, b: RoundSample) => number) => medianOrNull(mine.map((m) => {
      const b = at(base, m.round);
      return b === undefined ? null : f(m, b);
    }));
    return {
      target,
      rounds: mine.length,
      rps: median(mine.map((s) => s.throughput.rps)),
      ratioToDirect: paired('direct', (m, b) => m.throughput.rps / b.throughput.rps),
      ratioToNginx: paired('nginx', (m, b) => m.throughput.rps / b.throughput.rps),
      cpuUsPerRequest: medianOrNull(mine.map((s) => s.throughput.cpuUsPerRequest)),
      cpuUsPerRequestPaced: medianOrNull(mine.map((s) => s.latency.cpuUsPerRequest)),
      p50Us: median(mine.map((s) => s.latency.p50Us)),
      p99Us: median(mine.map((s) => s.latency.p99Us)),
      addedP50Us: target === 'direct' ? null : paired('direct', (m, b) => m.latency.p50Us - b.latency.p50Us),
      addedP99Us: target === 'direct' ? null : paired('direct', (m, b) => m.latency.p99Us - b.latency.p99Us),
      errors: mine.reduce((n, s) => n + s.throughput.errors + s.latency.errors, 0),
    };
  });
}

const COLUMNS: readonly { readonly title: string; readonly cell: (s: TargetSummary, rate: number) => string }[] = [
  { title: 'target', cell: (s) => s.target },
  { title: 'req/s', cell: (s) => fmt(s.rps, 0) },
  { title: 'x direct', cell: (s) => fmt(s.ratioToDirect, 2) },
  { title: 'x nginx', cell: (s) => fmt(s.ratioToNginx, 2) },
  { title: 'CPU us/req', cell: (s) => fmt(s.cpuUsPerRequest, 1) },
  { title: 'p50 us', cell: (s) => fmt(s.p50Us, 0) },
  { title: 'p99 us', cell: (s) => fmt(s.p99Us, 0) },
  { title: '+p50 us', cell: (s) => signed(s.addedP50Us) },
  { title: '+p99 us', cell: (s) => signed(s.addedP99Us) },
  { title: 'B load', cell: (s, rate) => `${Math.round((rate / s.rps) * 100)}%` },
  { title: 'errors', cell: (s) => String(s.errors) },
];

export function formatTable(rows: readonly TargetSummary[], rate: number): string {
  const cells = [COLUMNS.map((c) => c.title), ...rows.map((r) => COLUMNS.map((c) => c.cell(r, rate)))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((row) => (row[i] as string).length)));
  const line = (row: readonly string[]) => row.map((v, i) => (i === 0 ? v.padEnd(widths[i] as number) : v.padStart(widths[i] as number))).join('  ');
  return [line(cells[0] as string[]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

function fmt(v: number | null, digits: number): string {
  if (v === null) return '-';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function signed(v: number | null): string {
  if (v === null) return '-';
  return `${v >= 0 ? '+' : ''}${fmt(v, 0)}`;
}

export function mib(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MiB`;
}

function pctSigned(p: number): string {
  return `${p >= 0 ? '+' : ''}${p.toFixed(1)}%`;
}

function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** One line per target and round, as the rounds go. */
export function formatProgress(s: RoundSample, rounds: number): string {
  const t = s.throughput;
  const l = s.latency;
  const cpu = t.cpuUsPerRequest === null ? '' : `, ${t.cpuUsPerRequest.toFixed(1)} CPU us/req`;
  const errors = t.errors + l.errors > 0 ? `, ${t.errors + l.errors} ERRORS` : '';
  const lag = l.sendLagP99Us > SEND_LAG_WARN_US ? `, client send lag p99 ${l.sendLagP99Us} us (client-bound)` : '';
  const noise = (t.otherCpuPct ?? 0) > NOISE_WARN_PCT || (t.stealPct ?? 0) > NOISE_WARN_PCT
    ? `, NOISE on the proxy CPU: ${(t.otherCpuPct ?? 0).toFixed(0)}% other processes, ${(t.stealPct ?? 0).toFixed(0)}% steal` : '';
  return `  round ${s.round}/${rounds} ${s.target.padEnd(11)} ${count(t.rps).padStart(7)} req/s${cpu}; ` +
    `p50 ${l.p50Us} us, p99 ${l.p99Us} us at ${count(l.completed / l.seconds)} req/s${errors}${lag}${noise}`;
}

export function formatReport(r: BenchResult): string[] {
  const out = [
    formatTable(r.summary, r.options.rate),
    '',
    'req/s: load A median; x direct / x nginx: per-round ratio of req/s, median; CPU us/req: the proxy process\'s user+system CPU per request under load A;',
    `p50/p99: load B (open loop, ${r.options.rate} req/s); +p50/+p99: added over direct in the same round, median;`,
    'B load: load B\'s rate as a share of the target\'s load A req/s (near or over 100%: the latency is queueing, not overhead).',
    `load average: ${r.machine.loadAverage.toFixed(2)} at the start, ${r.loadAverageAtEnd.toFixed(2)} at the end (${r.machine.nproc} CPUs); placement: ${r.machine.pinned ? 'pinned' : 'NOT pinned'}`,
  ];
  const noisy = r.samples.filter((s) => (s.throughput.otherCpuPct ?? 0) > NOISE_WARN_PCT || (s.throughput.stealPct ?? 0) > NOISE_WARN_PCT).length;
  if (noisy > 0) out.push(`WARNING: in ${noisy} of ${r.samples.length} load A runs other processes or the hypervisor took over ${NOISE_WARN_PCT}% of the proxy's CPU`);
  const failed = r.summary.filter((s) => s.errors > 0);
  if (failed.length > 0) out.push(`WARNING: requests failed on ${failed.map((s) => `${s.target} (${s.errors})`).join(', ')}: their figures are not comparable`);
  const h = r.outrider;
  if (h !== null) {
    out.push(`outrider during the rounds: ${count(h.measuredRequests)} measured requests (warm-ups not counted); outrider_requests_total ${count(h.requestsTotalMetric)}; ` +
      `${count(h.log.accessLines)} access-log lines; ${h.log.errorLines} error lines`);
    if (h.log.accessLines < h.measuredRequests || h.requestsTotalMetric < h.measuredRequests) {
      out.push('WARNING: outrider logged or counted fewer requests than it answered: the access log / metrics cost is not (fully) in its figures');
    }
    if (h.log.firstError !== null) out.push(`WARNING: outrider logged errors under load; the first: ${h.log.firstError}`);
  }
  const m = r.memory;
  if (m !== null) {
    out.push(`memory (outrider RSS): ${mib(m.startRssBytes)} at start, ${mib(m.warmRssBytes)} after ${count(m.samples[0]?.requests ?? 0)} requests, ` +
      `${mib(m.endRssBytes)} after ${count(m.requests)} (peak ${mib(m.peakRssBytes)}): growth ${pctSigned(m.growthPct)} after the warm-up, ${pctSigned(m.secondHalfGrowthPct)} over the second half` +
      `${m.errors > 0 ? `, ${m.errors} ERRORS` : ''}`);
    out.push(`  RSS MiB by requests: ${m.samples.map((x) => `${Math.round(x.requests / 1000)}k ${(x.rssBytes / 1_048_576).toFixed(0)}`).join(', ')}`);
  }
  const p = r.profile;
  if (p !== null) {
    out.push('', `outrider CPU profile of one load A run (${count(p.throughput.rps)} req/s while profiled), ` +
      `${p.window.fromMs.toFixed(0)}-${p.window.toMs.toFixed(0)} ms after start: ${p.file}`, formatProfile(p.summary));
  }
  return out;
}
