// Split accuracy over 10,000 requests (random and sticky), and how many sticky keys move when a
// reload changes the weights from 90/10 to 80/20 (weighted rendezvous hashing: ideally exactly
// the 10% that must move, all from a to b).
import { load, round, share, startOutrider, startUpstream } from './harness.ts';
import type { ScenarioResult } from './result.ts';

const N = 10_000;

export async function splitScenario(): Promise<ScenarioResult> {
  const ups = await Promise.all(['a', 'b', 'c'].map((n) => startUpstream(n)));
  const [a, b, c] = ups as [typeof ups[0], typeof ups[0], typeof ups[0]];
  const yaml = (wa: number, wb: number) => `
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
upstreams:
  - { name: a, endpoints: [${a.origin}] }
  - { name: b, endpoints: [${b.origin}] }
  - { name: c, endpoints: [${c.origin}] }
routes:
  - { name: two, match: { path: /two }, backends: [ { to: a, weight: 90 }, { to: b, weight: 10 } ] }
  - { name: three, match: { path: /three }, backends: [ { to: a, weight: 60 }, { to: b, weight: 30 }, { to: c, weight: 10 } ] }
  - name: sticky
    match: { path: /sticky }
    backends: [ { to: a, weight: ${wa} }, { to: b, weight: ${wb} } ]
    sticky: { header: x-user-id }
telemetry: { accessLog: false }
`;
  const o = await startOutrider(yaml(90, 10));
  try {
    const two = await load(`${o.data}/two`, N, 16);
    const three = await load(`${o.data}/three`, N, 16);
    const key = (i: number) => ({ 'x-user-id': `user-${i}` });
    const before = await load(`${o.data}/sticky`, N, 16, key);
    const again = await load(`${o.data}/sticky`, N, 16, key);
    await o.reload(yaml(80, 20));
    const after = await load(`${o.data}/sticky`, N, 16, key);
    let moved = 0;
    let movedToA = 0;
    let changedUnchanged = 0;
    for (let i = 0; i < N; i++) {
      if (again[i]!.backend !== before[i]!.backend) changedUnchanged++;
      if (after[i]!.backend !== before[i]!.backend) {
        moved++;
        if (after[i]!.backend === 'a') movedToA++;
      }
    }
    const errors = [...two, ...three, ...before, ...again, ...after].filter((s) => s.status !== 200).length;
    const dev = (xs: typeof two, name: string, want: number) => Math.abs(share(xs, name) - want);
    const worst = Math.max(dev(two, 'a', 90), dev(two, 'b', 10), dev(three, 'a', 60), dev(three, 'b', 30), dev(three, 'c', 10));
    // Keys hash to backends: their shares are a draw, with a standard deviation of
    // sqrt(p(1-p)/keys), 0.3-0.4 points for 10,000 keys.
    const stickyWorst = Math.max(dev(before, 'b', 10), dev(after, 'b', 20));
    const movedPct = (moved / N) * 100;
    return {
      scenario: 'split',
      figures: {
        requestsPerSplit: N,
        '90/10 without the sticky header (a, b) %': [round(share(two, 'a')), round(share(two, 'b'))],
        '60/30/10 without the sticky header (a, b, c) %': [round(share(three, 'a')), round(share(three, 'b')), round(share(three, 'c'))],
        '90/10 sticky keys (a, b) %': [round(share(before, 'a')), round(share(before, 'b'))],
        '80/20 sticky keys after reload (a, b) %': [round(share(after, 'a')), round(share(after, 'b'))],
        'sticky keys moved by 90/10 -> 80/20 %': round(movedPct),
        'moved keys that went b -> a (should be 0)': movedToA,
        'keys that changed with unchanged weights (should be 0)': changedUnchanged,
        'non-200 answers': errors,
      },
      bars: [
        { name: 'split accuracy over 10,000 requests: worst deviation from the weights (pp)', value: round(worst), limit: '<= 1', pass: worst <= 1 },
        { name: 'sticky keys: worst deviation of 10,000 keys\' shares from the weights (pp, a hash draw)', value: round(stickyWorst), limit: 'info', pass: true },
        { name: 'sticky keys moved on 90/10 -> 80/20 (%)', value: round(movedPct), limit: '<= 11', pass: movedPct <= 11 && movedToA === 0 && changedUnchanged === 0 },
      ],
    };
  } finally {
    await o.stop();
  }
}
