// Where each kind keeps its pod template. Kinds not listed here pass through untouched;
// the API group is part of the key so a custom resource that reuses a name ("Job") is not
// mistaken for the built-in one.
import { injectPodTemplate } from './pod.ts';
import type { InjectOptions } from './options.ts';

type Json = Record<string, unknown>;

const TEMPLATE_PATHS: ReadonlyMap<string, readonly string[]> = new Map([
  ['core/Pod', []],
  ['core/ReplicationController', ['spec', 'template']],
  ['apps/Deployment', ['spec', 'template']],
  ['apps/StatefulSet', ['spec', 'template']],
  ['apps/DaemonSet', ['spec', 'template']],
  ['apps/ReplicaSet', ['spec', 'template']],
  ['batch/Job', ['spec', 'template']],
  ['batch/CronJob', ['spec', 'jobTemplate', 'spec', 'template']],
]);

export type ObjectResult =
  | { readonly status: 'injected'; readonly object: Json; readonly notes: readonly string[] }
  | { readonly status: 'unchanged'; readonly notes: readonly string[] }
  | { readonly status: 'refused'; readonly reasons: readonly string[] };

/** A short name for messages: `Deployment "web"`. */
export function describeObject(obj: unknown): string {
  if (!isObject(obj)) return obj === null || obj === undefined ? 'an empty document' : `a ${Array.isArray(obj) ? 'list' : typeof obj}`;
  const kind = typeof obj['kind'] === 'string' ? obj['kind'] : 'object without kind';
  const meta = obj['metadata'];
  const name = isObject(meta) && typeof meta['name'] === 'string' ? ` "${meta['name']}"` : '';
  return `${kind}${name}`;
}

export function injectObject(obj: unknown, opts: InjectOptions): ObjectResult {
  if (!isObject(obj)) return { status: 'unchanged', notes: [] };
  if (obj['kind'] === 'List' && obj['apiVersion'] === 'v1' && Array.isArray(obj['items'])) return injectList(obj, obj['items'], opts);
  const path = templatePath(obj);
  if (path === undefined) return { status: 'unchanged', notes: [] };
  const template = path.reduce<unknown>((node, key) => (isObject(node) ? node[key] : undefined), obj);
  const meta = obj['metadata'];
  const workloadName = path.length > 0 && isObject(meta) && typeof meta['name'] === 'string' ? meta['name'] : undefined;
  const r = injectPodTemplate(template, { workloadName, at: path.join('.') }, opts);
  switch (r.status) {
    case 'refused': return { status: 'refused', reasons: [r.reason] };
    case 'skipped': return { status: 'unchanged', notes: [`skipped: ${r.reason}`] };
    case 'injected': {
      const object = structuredClone(obj);
      if (path.length === 0) return { status: 'injected', object: r.template, notes: r.warnings };
      const parent = path.slice(0, -1).reduce((node, key) => node[key] as Json, object);
      parent[path.at(-1)!] = r.template;
      return { status: 'injected', object, notes: r.warnings };
    }
  }
}

function injectList(list: Json, items: readonly unknown[], opts: InjectOptions): ObjectResult {
  const reasons: string[] = [];
  const notes: string[] = [];
  const out = items.map((item, i) => {
    const r = injectObject(item, opts);
    const label = `item ${i + 1} (${describeObject(item)})`;
    if (r.status === 'refused') reasons.push(...r.reasons.map((m) => `${label}: ${m}`));
    else notes.push(...r.notes.map((m) => `${label}: ${m}`));
    return r.status === 'injected' ? r.object : item;
  });
  if (reasons.length > 0) return { status: 'refused', reasons };
  if (out.every((item, i) => item === items[i])) return { status: 'unchanged', notes };
  return { status: 'injected', object: { ...list, items: out }, notes };
}

function templatePath(obj: Json): readonly string[] | undefined {
  const apiVersion = obj['apiVersion'];
  const kind = obj['kind'];
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return undefined;
  const slash = apiVersion.indexOf('/');
  const group = slash === -1 ? 'core' : apiVersion.slice(0, slash);
  return TEMPLATE_PATHS.get(`${group}/${kind}`);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
