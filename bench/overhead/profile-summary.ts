// Where a process's CPU went, from a V8 .cpuprofile (node --cpu-prof): self time per function
// (file:line), per module, and per kind of code.
//   node bench/overhead/profile-summary.ts FILE.cpuprofile [--top 25] [--from-ms A --to-ms B]
// --from-ms/--to-ms keep only the samples taken that long after the profile started (start-up and
// warm-up left out).
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;     // 0-based
  readonly columnNumber: number;   // 0-based
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;      // microseconds
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface Cost {
  readonly name: string;
  readonly selfUs: number;
  readonly pct: number;           // of the busy (non-idle) time
}

export interface FunctionCost extends Cost {
  readonly location: string;      // file:line:col, relative to the repository
  readonly module: string;
}

export interface ProfileSummary {
  readonly totalUs: number;
  readonly idleUs: number;
  readonly busyUs: number;
  readonly kinds: readonly Cost[];
  readonly modules: readonly Cost[];
  readonly functions: readonly FunctionCost[];
  /** Outrider's own functions by total time (self + everything they call): where dependency time is spent from. */
  readonly outriderTotals: readonly FunctionCost[];
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUTRIDER = 'Outrider code';
const PSEUDO = new Set(['(garbage collector)', '(program)', '(idle)', '(root)']);

function moduleOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') return PSEUDO.has(functionName) ? functionName : '(native)';
  if (url.startsWith('node:') || url.startsWith('wasm://')) return url;
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return `node_modules/${rest[0]?.startsWith('@') === true ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  return path.startsWith(REPO_ROOT) ? relative(REPO_ROOT, path) : path;
}

function kindOf(module: string): string {
  if (PSEUDO.has(module)) return module;
  if (module === '(native)') return 'V8/native builtins';
  if (module.startsWith('node:')) return 'Node.js core (node:*)';
  if (module.startsWith('node_modules/')) return 'dependencies (node_modules)';
  if (module.startsWith('wasm://')) return 'WebAssembly (undici\'s llhttp parser)';
  if (/^(proxy|policies|runtime|bin)\//.test(module)) return OUTRIDER;
  return 'other';
}

function locationOf(frame: CallFrame, module: string): string {
  if (frame.url === '') return module;
  const path = frame.url.startsWith('file://') ? fileURLToPath(frame.url) : frame.url;
  const file = path.startsWith(REPO_ROOT) ? relative(REPO_ROOT, path) : path;
  return `${file}:${frame.lineNumber + 1}:${frame.columnNumber + 1}`;
}

/** A part of the profile, in ms since it started: the measured run without start-up and warm-up. */
export interface ProfileWindow {
  readonly fromMs: number;
  readonly toMs: number;
}

/** Sample i lasts until sample i+1 (timeDeltas[i+1]), as Chrome DevTools attributes it. */
function selfTimes(p: CpuProfile, window: ProfileWindow | null): Map<number, number> {
  const self = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  let t = 0;   // us since startTime
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    if (window !== null && (t < window.fromMs * 1000 || t > window.toMs * 1000)) continue;
    const id = samples[i] as number;
    const dt = i + 1 < deltas.length ? Math.max(0, deltas[i + 1] as number) : 0;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  return self;
}

function ranked(costs: Map<string, number>, busyUs: number, top: number): Cost[] {
  return [...costs].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, selfUs]) => ({ name, selfUs, pct: busyUs > 0 ? (selfUs / busyUs) * 100 : 0 }));
}

function frameKey(f: CallFrame): string {
  return `${f.functionName}\u0000${f.url}\u0000${f.lineNumber}\u0000${f.columnNumber}`;
}

interface Tally {
  readonly frame: CallFrame;
  readonly module: string;
  us: number;
}

function add(tallies: Map<string, Tally>, frame: CallFrame, module: string, us: number): void {
  const key = frameKey(frame);
  const t = tallies.get(key);
  if (t === undefined) tallies.set(key, { frame, module, us });
  else t.us += us;
}

function topCosts(tallies: Map<string, Tally>, busyUs: number, top: number): FunctionCost[] {
  return [...tallies.values()].sort((a, b) => b.us - a.us).slice(0, top).map((f) => ({
    name: f.frame.functionName === '' ? '(anonymous)' : f.frame.functionName,
    location: locationOf(f.frame, f.module),
    module: f.module,
    selfUs: f.us,
    pct: busyUs > 0 ? (f.us / busyUs) * 100 : 0,
  }));
}

export function summarizeProfile(p: CpuProfile, top = 25, window: ProfileWindow | null = null): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const fns = new Map<string, Tally>();
  const totals = new Map<string, Tally>();
  const modules = new Map<string, number>();
  const kinds = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfTimes(p, window)) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const module = moduleOf(node.callFrame);
    totalUs += us;
    if (module === '(idle)') {
      idleUs += us;
      continue;
    }
    add(fns, node.callFrame, module, us);
    modules.set(module, (modules.get(module) ?? 0) + us);
    const kind = kindOf(module);
    kinds.set(kind, (kinds.get(kind) ?? 0) + us);
    // Each Outrider function on the stack once, however deep the recursion.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)?.callFrame;
      if (frame === undefined) break;
      const m = moduleOf(frame);
      if (kindOf(m) !== OUTRIDER || seen.has(frameKey(frame))) continue;
      seen.add(frameKey(frame));
      add(totals, frame, m, us);
    }
  }
  const busyUs = totalUs - idleUs;
  return {
    totalUs,
    idleUs,
    busyUs,
    kinds: ranked(kinds, busyUs, kinds.size),
    modules: ranked(modules, busyUs, top),
    functions: topCosts(fns, busyUs, top),
    outriderTotals: topCosts(totals, busyUs, Math.min(top, 15)),
  };
}

function ms(us: number): string {
  return (us / 1000).toFixed(1).padStart(9);
}

function pct(p: number): string {
  return `${p.toFixed(1)}%`.padStart(6);
}

export function formatProfile(s: ProfileSummary): string {
  const out = [
    `profile: ${(s.totalUs / 1e6).toFixed(2)} s sampled, ${(s.busyUs / 1e6).toFixed(2)} s busy, ${(s.idleUs / 1e6).toFixed(2)} s idle; percentages are of busy time`,
    '',
    'self time by kind of code:',
    ...s.kinds.map((k) => `${ms(k.selfUs)} ms ${pct(k.pct)}  ${k.name}`),
    '',
    `top ${s.modules.length} modules by self time:`,
    ...s.modules.map((m) => `${ms(m.selfUs)} ms ${pct(m.pct)}  ${m.name}`),
    '',
    `top ${s.functions.length} functions by self time:`,
    ...s.functions.map((f) => `${ms(f.selfUs)} ms ${pct(f.pct)}  ${f.name}  ${f.location}`),
  ];
  if (s.outriderTotals.length > 0) {
    out.push('', `top ${s.outriderTotals.length} Outrider functions by total time (self + callees):`,
      ...s.outriderTotals.map((f) => `${ms(f.selfUs)} ms ${pct(f.pct)}  ${f.name}  ${f.location}`));
  }
  return out.join('\n');
}

export function readProfile(file: string): CpuProfile {
  const notProfile = `${file} is not a V8 .cpuprofile (JSON with nodes, samples and timeDeltas expected)`;
  let p: Partial<CpuProfile> | null;
  try {
    p = JSON.parse(readFileSync(file, 'utf8')) as Partial<CpuProfile> | null;
  } catch (e) {
    if (e instanceof SyntaxError) throw new Error(notProfile, { cause: e });
    throw e;
  }
  if (p === null || !Array.isArray(p.nodes) || !Array.isArray(p.samples) || !Array.isArray(p.timeDeltas)) throw new Error(notProfile);
  return p as CpuProfile;
}

function parseCli(argv: string[]): { file: string; top: number; window: ProfileWindow | null } {
  const usage = 'usage: profile-summary.ts FILE.cpuprofile [--top N] [--from-ms A --to-ms B]';
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, 'from-ms': { type: 'string' }, 'to-ms': { type: 'string' } },
  });
  const top = Number(values.top);
  const file = positionals[0];
  if (file === undefined || positionals.length !== 1 || !Number.isInteger(top) || top < 1) throw new Error(usage);
  const from = values['from-ms'];
  const to = values['to-ms'];
  if (from === undefined && to === undefined) return { file, top, window: null };
  const window = { fromMs: Number(from ?? 0), toMs: to === undefined ? Infinity : Number(to) };
  if (!(window.fromMs >= 0) || !(window.toMs > window.fromMs)) throw new Error(`--from-ms/--to-ms must be 0 <= A < B\n${usage}`);
  return { file, top, window };
}

if (import.meta.main) {
  try {
    const { file, top, window } = parseCli(process.argv.slice(2));
    process.stdout.write(`${formatProfile(summarizeProfile(readProfile(file), top, window))}\n`);
  } catch (e) {
    process.stderr.write(`profile-summary: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
