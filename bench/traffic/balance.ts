// Latency-aware picking: four endpoints with a 20 ms service time (a small model), one of them
// slowed 10x (200 ms),
// against four all-healthy endpoints; p2c-ewma and round-robin side by side. Each route has its
// own four servers; open-loop load at a fixed rate the three healthy endpoints can carry; short
// rounds interleave the routes, so that drift over the run (other work on the machine) hits
// them alike, and each figure is the median over rounds (as in bench/overhead), so that a stall
// of the machine landing in one round does not decide it. A second all-healthy p2c-ewma route
// is the A/A control: its ratio is the noise floor. Bar: p2c-ewma's p99 with the slowed
// endpoint within 1.5x of its all-healthy p99; round-robin's shown for comparison.
import { DEFAULT_DECAY_MS } from '../../proxy/balance.ts';
import { paced, percentile, round, routesStatus, startOutrider, startUpstream } from './harness.ts';
import type { Sample, Upstream } from './harness.ts';
import type { ScenarioResult } from './result.ts';

const SERVICE_MS = 20;
const RATE = 200;
const ROUND_MS = 1_000;
const ROUNDS = 15;
/** Two decay time constants (DEFAULT_DECAY_MS). */
const SETTLE_MS = 2 * DEFAULT_DECAY_MS;

const ROUTES = [
  { name: 'p2c-healthy', balance: 'p2c-ewma', slowed: false },
  { name: 'p2c-slowed', balance: 'p2c-ewma', slowed: true },
  { name: 'rr-healthy', balance: 'round-robin', slowed: false },
  { name: 'rr-slowed', balance: 'round-robin', slowed: true },
  { name: 'p2c-control', balance: 'p2c-ewma', slowed: false },
] as const;

export async function balanceScenario(): Promise<ScenarioResult> {
  const fleets = new Map<string, Upstream[]>();
  for (const r of ROUTES) fleets.set(r.name, await Promise.all([0, 1, 2, 3].map((i) => startUpstream(`${r.name}-${i}`, SERVICE_MS))));
  const o = await startOutrider(`
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
upstreams:
${ROUTES.map((r) => `  - { name: ${r.name}, endpoints: [${fleets.get(r.name)!.map((u) => u.origin).join(', ')}] }`).join('\n')}
routes:
${ROUTES.map((r) => `  - { name: ${r.name}, match: { path: /${r.name} }, balance: ${r.balance}, backends: [ { to: ${r.name} } ] }`).join('\n')}
telemetry: { accessLog: false }
`);
  const samples = new Map<string, Sample[]>(ROUTES.map((r) => [r.name, []]));
  const roundP99 = new Map<string, number[]>(ROUTES.map((r) => [r.name, []]));
  try {
    for (const r of ROUTES) await paced(`${o.data}/${r.name}`, RATE, 1_000);
    // The warm-up's own peaks (connections being opened, code being compiled) would otherwise
    // weigh on the estimates for the next ~τ·ln(peak/latency) seconds: the bar is about the
    // steady state. The transient of the slowdown itself is measured below.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    for (const r of ROUTES) if (r.slowed) await fleets.get(r.name)![0]!.set({ delayMs: SERVICE_MS * 10 });
    // The switch itself: p2c-ewma learns of the slowdown from the first slow answers.
    const transition = (await paced(`${o.data}/p2c-slowed`, RATE, 1_000)).samples;
    await paced(`${o.data}/rr-slowed`, RATE, 1_000);
    const slowFleet = fleets.get('p2c-slowed')!;
    const before = await Promise.all(slowFleet.map((x) => x.requests()));
    for (let i = 0; i < ROUNDS; i++) {
      for (let k = 0; k < ROUTES.length; k++) {
        const r = ROUTES[(i + k) % ROUTES.length]!;
        const got = (await paced(`${o.data}/${r.name}`, RATE, ROUND_MS)).samples;
        samples.get(r.name)!.push(...got);
        roundP99.get(r.name)!.push(percentile(got.map((s) => s.ms), 99));
      }
    }
    const after = await Promise.all(slowFleet.map((x) => x.requests()));
    const slowShare = ((after[0]! - before[0]!) / after.reduce((n, x, i) => n + x - before[i]!, 0)) * 100;
    const status = await routesStatus(o);
    const estimates = ((status['p2c-slowed']!['backends'] as { endpoints: { latencyEwmaMs: number }[] }[])[0]!.endpoints).map((e) => round(e.latencyEwmaMs));
    const q = (name: string, p: number) => percentile(samples.get(name)!.map((s) => s.ms), p);
    const p99 = (name: string) => percentile(roundP99.get(name)!, 50);
    const ratio = (a: string, b: string) => p99(a) / p99(b);
    const non200 = [...samples.values()].flat().filter((s) => s.status !== 200).length;
    return {
      scenario: 'balance',
      figures: {
        endpoints: 4,
        serviceMs: SERVICE_MS,
        slowedMs: SERVICE_MS * 10,
        ratePerSecond: RATE,
        requestsPerRoute: samples.get('p2c-healthy')!.length,
        ...Object.fromEntries(ROUTES.map((r) => [`${r.name}: p50, p99 (median over rounds), p99 (all samples) ms`, [round(q(r.name, 50)), round(p99(r.name)), round(q(r.name, 99))]])),
        'p99 ratio slowed/healthy (p2c-ewma, round-robin)': [round(ratio('p2c-slowed', 'p2c-healthy')), round(ratio('rr-slowed', 'rr-healthy'))],
        'p99 ratio control/healthy (p2c-ewma A/A: the noise floor)': round(ratio('p2c-control', 'p2c-healthy')),
        'same ratios over all samples pooled (p2c-ewma, round-robin, control)': [round(q('p2c-slowed', 99) / q('p2c-healthy', 99)), round(q('rr-slowed', 99) / q('rr-healthy', 99)), round(q('p2c-control', 99) / q('p2c-healthy', 99))],
        'p2c-ewma: share of requests sent to the slowed endpoint %': round(slowShare),
        'p2c-ewma: first second after the slowdown, p99 ms': round(percentile(transition.map((s) => s.ms), 99)),
        'p2c-ewma endpoint estimates at the end, slowed first (ms)': estimates,
        'non-200 answers': non200,
      },
      bars: [
        { name: 'p2c-ewma p99 with 1 of 4 endpoints slowed 10x / all-healthy p99', value: round(ratio('p2c-slowed', 'p2c-healthy')), limit: '<= 1.5', pass: ratio('p2c-slowed', 'p2c-healthy') <= 1.5 && non200 === 0 },
        { name: 'round-robin, same (for comparison: expected to exceed 1.5)', value: round(ratio('rr-slowed', 'rr-healthy')), limit: 'info', pass: true },
      ],
    };
  } finally {
    await o.stop();
  }
}
