// One AdmissionReview (admission.k8s.io/v1) in, its response out. Pods that opt in with the
// label or annotation `outrider.io/inject: "true"` get the sidecar as a JSONPatch computed
// against the same injection `outrider inject` applies. Pod creation is never blocked:
// a pod that cannot be injected is admitted unchanged, with a warning kubectl shows.
import jsonpatch from 'fast-json-patch';
import type { InjectOptions } from '../inject/options.ts';
import { injectPodTemplate } from '../inject/pod.ts';
import { ANNOTATION } from '../inject/sidecar.ts';

type Json = Record<string, unknown>;

export type ReviewOutcome =
  | { readonly status: 200; readonly body: Json; readonly event: ReviewEvent }
  | { readonly status: 400; readonly body: Json };

/** What happened, for the log line. */
export interface ReviewEvent {
  readonly uid: string;
  readonly decision: 'injected' | 'not-selected' | 'skipped' | 'refused';
  readonly reason?: string;
  readonly namespace?: string;
  readonly pod?: string;
}

export const API_VERSION = 'admission.k8s.io/v1';

export function reviewAdmission(review: unknown, opts: InjectOptions): ReviewOutcome {
  if (!isObject(review)) return malformed('the body is not a JSON object');
  if (review['apiVersion'] !== API_VERSION || review['kind'] !== 'AdmissionReview') {
    return malformed(`expected apiVersion ${API_VERSION} and kind AdmissionReview, got ${JSON.stringify(review['apiVersion'])} and ${JSON.stringify(review['kind'])}`);
  }
  const request = review['request'];
  if (!isObject(request)) return malformed('request is missing');
  const uid = request['uid'];
  if (typeof uid !== 'string' || uid === '') return malformed('request.uid is missing');
  const kind = request['kind'];
  const namespace = typeof request['namespace'] === 'string' ? request['namespace'] : undefined;
  const isPodCreate = isObject(kind) && kind['group'] === '' && kind['kind'] === 'Pod'
    && request['operation'] === 'CREATE' && (request['subResource'] === undefined || request['subResource'] === '');
  if (!isPodCreate) return allowed({ uid, decision: 'not-selected', reason: 'not a pod creation', namespace });
  const pod = request['object'];
  if (!isObject(pod)) return malformed('request.object is not a Pod');
  const meta = isObject(pod['metadata']) ? pod['metadata'] : {};
  const name = typeof meta['name'] === 'string' && meta['name'] !== '' ? meta['name'] : typeof meta['generateName'] === 'string' ? `${meta['generateName']}*` : undefined;
  const event = { uid, namespace, pod: name };
  if (!optedIn(meta)) return allowed({ ...event, decision: 'not-selected', reason: `no ${ANNOTATION.inject}: "true" label or annotation` });

  const r = injectPodTemplate(pod, { at: '' }, opts);
  if (r.status === 'skipped') return allowed({ ...event, decision: 'skipped', reason: r.reason });
  if (r.status === 'refused') return allowed({ ...event, decision: 'refused', reason: r.reason }, [`outrider: sidecar not injected: ${r.reason}`]);
  const patch = jsonpatch.compare(pod, r.template);
  return allowed({ ...event, decision: 'injected' }, r.warnings.map((w) => `outrider: ${w}`), patch);
}

function optedIn(meta: Json): boolean {
  const labels = isObject(meta['labels']) ? meta['labels'] : {};
  const annotations = isObject(meta['annotations']) ? meta['annotations'] : {};
  return labels[ANNOTATION.inject] === 'true' || annotations[ANNOTATION.inject] === 'true';
}

function allowed(event: ReviewEvent, warnings: readonly string[] = [], patch?: readonly unknown[]): ReviewOutcome {
  const response: Json = { uid: event.uid, allowed: true };
  if (patch !== undefined && patch.length > 0) {
    response['patchType'] = 'JSONPatch';
    response['patch'] = Buffer.from(JSON.stringify(patch)).toString('base64');
  }
  if (warnings.length > 0) response['warnings'] = warnings;
  return { status: 200, body: { apiVersion: API_VERSION, kind: 'AdmissionReview', response }, event };
}

function malformed(message: string): ReviewOutcome {
  return { status: 400, body: { error: { code: 'invalid_request', message: `malformed AdmissionReview: ${message}` } } };
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
