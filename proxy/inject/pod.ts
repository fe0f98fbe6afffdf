// Injection of one pod template ({metadata, spec}: a Pod, or the template of a workload). Pure:
// the input is never changed; the result is a new template, or why the pod is left alone.
import { DEFAULT_OPTIONS, OUTRIDER_VERSION, isConfigMapName } from './options.ts';
import type { InjectOptions } from './options.ts';
import { ANNOTATION, CONFIG_VOLUME, SIDECAR_NAME, TMP_VOLUME, scrapeAnnotations, sidecarContainer, sidecarGraceSeconds, sidecarVolumes } from './sidecar.ts';

type Json = Record<string, unknown>;

export type PodResult =
  | { readonly status: 'injected'; readonly template: Json; readonly configMap: string; readonly warnings: readonly string[] }
  | { readonly status: 'skipped'; readonly reason: string }
  | { readonly status: 'refused'; readonly reason: string };

export interface PodContext {
  /** The workload's metadata.name; absent for a bare Pod (see configMapFor). */
  readonly workloadName?: string | undefined;
  /** Where the template sits in its document, for messages: "spec.template". */
  readonly at: string;
}

// Kubernetes's default when the field is absent.
const DEFAULT_GRACE_SECONDS = 30;

export function injectPodTemplate(template: unknown, ctx: PodContext, opts: InjectOptions = DEFAULT_OPTIONS): PodResult {
  const where = (field: string) => (ctx.at === '' ? field : `${ctx.at}.${field}`);
  if (!isObject(template)) return refused(`${ctx.at || 'the document'} is not an object`);
  const metadata = template['metadata'] ?? {};
  if (!isObject(metadata)) return refused(`${where('metadata')} is not an object`);
  const annotations = stringMap(metadata['annotations']);
  const labels = stringMap(metadata['labels']);
  if (annotations === null) return refused(`${where('metadata.annotations')} is not a map of strings`);
  if (labels === null) return refused(`${where('metadata.labels')} is not a map of strings`);
  const spec = template['spec'];
  if (!isObject(spec)) return refused(`${where('spec')} is missing or not an object`);

  if (annotations[ANNOTATION.inject] === 'false' || labels[ANNOTATION.inject] === 'false') {
    return { status: 'skipped', reason: `${ANNOTATION.inject} is "false"` };
  }
  const injected = annotations[ANNOTATION.injected];
  if (injected !== undefined) return { status: 'skipped', reason: `already injected (${ANNOTATION.injected}: ${injected})` };

  const containers = spec['containers'];
  if (!Array.isArray(containers) || containers.length === 0 || !containers.every(isObject)) {
    return refused(`${where('spec.containers')} must be a non-empty list of containers`);
  }
  const lists: [string, unknown][] = [['containers', containers], ['initContainers', spec['initContainers']], ['ephemeralContainers', spec['ephemeralContainers']]];
  for (const [field, list] of lists) {
    if (list !== undefined && (!Array.isArray(list) || !list.every(isObject))) return refused(`${where(`spec.${field}`)} is not a list of containers`);
  }
  const all = lists.flatMap(([, list]) => (list ?? []) as Json[]);
  if (all.some((c) => c['name'] === SIDECAR_NAME)) {
    return refused(`it already has a container named "${SIDECAR_NAME}" that Outrider did not inject (no ${ANNOTATION.injected} annotation); rename that container or add the annotation`);
  }
  const volumes = spec['volumes'];
  if (volumes !== undefined && (!Array.isArray(volumes) || !volumes.every(isObject))) return refused(`${where('spec.volumes')} is not a list of volumes`);
  const taken = ((volumes ?? []) as Json[]).map((v) => v['name']).filter((n) => n === CONFIG_VOLUME || n === TMP_VOLUME);
  if (taken.length > 0) return refused(`it already has a volume named "${String(taken[0])}", which the sidecar needs`);

  const hostNetwork = spec['hostNetwork'] === true;
  const conflict = portConflict(all, opts, hostNetwork);
  if (conflict !== null) return refused(conflict);

  const restartPolicy = spec['restartPolicy'];
  if (!opts.nativeSidecar && (restartPolicy === 'Never' || restartPolicy === 'OnFailure')) {
    return refused(`its restartPolicy is ${String(restartPolicy)} (a Job's pod): a regular sidecar container never exits, so the pod would never complete; inject it as a native sidecar (Kubernetes >= 1.29, the default) instead of --no-native-sidecar`);
  }

  const configMap = configMapFor(annotations, labels, metadata, ctx, opts);
  if (!configMap.ok) return refused(configMap.reason);

  const warnings: string[] = [];
  const out = structuredClone(template);
  const outMeta = (out['metadata'] ??= {}) as Json;
  const outAnnotations = (outMeta['annotations'] ??= {}) as Record<string, string>;
  const ownScrape = Object.keys(annotations).filter((k) => k.startsWith('prometheus.io/'));
  if (ownScrape.length > 0) {
    // Overwriting them would silently stop the app's own metrics from being scraped.
    warnings.push(`kept the pod's own ${ownScrape.join(', ')} annotations: scrape Outrider's metrics on port ${opts.adminPort}, path /metrics, some other way`);
  } else {
    Object.assign(outAnnotations, scrapeAnnotations(opts));
  }
  outAnnotations[ANNOTATION.injected] = OUTRIDER_VERSION;

  const outSpec = out['spec'] as Json;
  const sidecar = sidecarContainer(opts);
  if (opts.nativeSidecar) {
    // Last of the init containers: those before it (fetching models, rendering config) have
    // finished when it starts, and it is up before the app containers start.
    ((outSpec['initContainers'] ??= []) as unknown[]).push(sidecar);
  } else {
    (outSpec['containers'] as unknown[]).push(sidecar);
  }
  ((outSpec['volumes'] ??= []) as unknown[]).push(...sidecarVolumes(configMap.name));

  const grace = sidecarGraceSeconds(opts);
  const current = outSpec['terminationGracePeriodSeconds'];
  if (grace > (typeof current === 'number' ? current : DEFAULT_GRACE_SECONDS)) outSpec['terminationGracePeriodSeconds'] = grace;
  if (hostNetwork) warnings.push(`the pod uses the host's network: the sidecar binds ports ${opts.dataPort} and ${opts.adminPort} on the node itself`);

  return { status: 'injected', template: out, configMap: configMap.name, warnings };
}

/**
 * The ConfigMap name, in this order: the pod's outrider.io/config-map annotation, the
 * --config-map option, then `<name>-outrider` where name is the workload's name, else the
 * pod's app.kubernetes.io/name or app label, else the pod's own name. Labels come before the
 * pod's name because pods made by controllers (what the webhook sees) carry generated names.
 */
function configMapFor(annotations: Record<string, string>, labels: Record<string, string>, metadata: Json, ctx: PodContext, opts: InjectOptions): { ok: true; name: string } | { ok: false; reason: string } {
  const explicit = annotations[ANNOTATION.configMap] ?? opts.configMap;
  const base = ctx.workloadName ?? labels['app.kubernetes.io/name'] ?? labels['app'] ?? (typeof metadata['name'] === 'string' ? metadata['name'] : undefined);
  const name = explicit ?? (base === undefined ? undefined : `${base}-outrider`);
  if (name === undefined) {
    return { ok: false, reason: `cannot name its ConfigMap: the pod has no name and no app.kubernetes.io/name or app label; pass --config-map or set the ${ANNOTATION.configMap} annotation` };
  }
  if (!isConfigMapName(name)) return { ok: false, reason: `the ConfigMap name ${JSON.stringify(name)} is not a valid name; pass --config-map or set the ${ANNOTATION.configMap} annotation` };
  return { ok: true, name };
}

function portConflict(containers: readonly Json[], opts: InjectOptions, hostNetwork: boolean): string | null {
  const ours = new Map([[opts.dataPort, ['data', '--data-port']], [opts.adminPort, ['admin', '--admin-port']]]);
  for (const c of containers) {
    const ports = Array.isArray(c['ports']) ? c['ports'] : [];
    for (const p of ports) {
      if (!isObject(p)) continue;
      for (const field of ['containerPort', 'hostPort'] as const) {
        const clash = ours.get(p[field] as number);
        if (clash === undefined) continue;
        const [role, flag] = clash;
        const net = hostNetwork ? ' (the pod uses the host network, so the port is the node\'s)' : '';
        return `container "${String(c['name'])}" already uses ${field} ${String(p[field])}, the sidecar's ${role} port${net}; choose another with ${flag}`;
      }
    }
  }
  return null;
}

function refused(reason: string): PodResult {
  return { status: 'refused', reason };
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown): Record<string, string> | null {
  if (v === undefined || v === null) return {};
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string')) return null;
  return v as Record<string, string>;
}
