// Kubernetes-shape checks for injected manifests, with @kubernetes/client-node's models: its
// ObjectSerializer keeps only the fields the Kubernetes API defines, so a round trip that
// changes an object means a misspelt or misplaced field.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { V1Container, V1PodTemplateSpec } from '@kubernetes/client-node';
import { ObjectSerializer } from '@kubernetes/client-node/dist/serializer.js';
import { getSerializationType } from '@kubernetes/client-node/dist/util.js';
import { ROOT } from '../../helpers/outrider.ts';

export const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'k8s');

export function fixture(name: string): Promise<string> {
  return readFile(path.join(FIXTURES, name), 'utf8');
}

export function documents(text: string): Record<string, unknown>[] {
  const docs = parseAllDocuments(text);
  assert.ok(Array.isArray(docs), 'expected at least one document');
  return docs.map((d) => {
    assert.deepEqual(d.errors, []);
    return d.toJS() as Record<string, unknown>;
  });
}

const BUILT_IN = /^(v1|apps\/v1|batch\/v1|admissionregistration\.k8s\.io\/v1)$/;

/** Asserts the object survives a round trip through the Kubernetes models unchanged. */
export function assertKubernetesShape(obj: Record<string, unknown>): void {
  const apiVersion = obj['apiVersion'] as string;
  const kind = obj['kind'] as string;
  assert.match(apiVersion, BUILT_IN, `${kind} is not a built-in kind`);
  const type = getSerializationType(apiVersion, kind);
  const typed: unknown = ObjectSerializer.deserialize(obj, type);
  const back: unknown = JSON.parse(JSON.stringify(ObjectSerializer.serialize(typed, type)));
  assert.deepEqual(back, obj, `${kind}: a field the Kubernetes ${type} model does not define`);
}

/** The pod template of a built-in workload (or the Pod itself). */
export function podTemplate(obj: Record<string, unknown>): V1PodTemplateSpec {
  const spec = obj['spec'] as Record<string, unknown>;
  switch (obj['kind']) {
    case 'Pod': return obj as V1PodTemplateSpec;
    case 'CronJob': return ((spec['jobTemplate'] as { spec: { template: V1PodTemplateSpec } }).spec.template);
    default: return spec['template'] as V1PodTemplateSpec;
  }
}

export function sidecarOf(t: V1PodTemplateSpec, native = true): V1Container {
  const list = (native ? t.spec?.initContainers : t.spec?.containers) ?? [];
  const c = list.at(-1);
  assert.ok(c !== undefined && c.name === 'outrider', `the sidecar is the last of ${native ? 'initContainers' : 'containers'}`);
  return c;
}

/** True when `needles` appear in `hay` in order (other lines may sit between them). */
export function isSubsequence(needles: readonly string[], hay: readonly string[]): boolean {
  let i = 0;
  for (const line of hay) if (i < needles.length && line === needles[i]) i++;
  return i === needles.length;
}
