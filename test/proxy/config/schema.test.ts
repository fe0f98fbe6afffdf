import { test } from 'node:test';
import assert from 'node:assert/strict';
import schema from '../../../proxy/config/outrider.schema.json' with { type: 'json' };

type Node = Record<string, unknown>;

function* objects(node: unknown, path: string): Generator<[string, Node]> {
  if (typeof node !== 'object' || node === null) return;
  if (!Array.isArray(node)) yield [path, node as Node];
  for (const [k, v] of Object.entries(node)) yield* objects(v, `${path}/${k}`);
}

const defs = schema.definitions as Record<string, Node>;
function target(node: Node): Node {
  const ref = node.$ref;
  return typeof ref === 'string' ? defs[ref.replace('#/definitions/', '')]! : node;
}

test('the schema closes every object: unknown keys are errors in editors too', () => {
  for (const [path, node] of objects(schema, '#')) {
    if (node.properties !== undefined && !path.endsWith('/if')) {
      // The runtime union holds only `kind`; each `then` branch is closed.
      if (path === '#/definitions/runtime') continue;
      assert.equal(node.additionalProperties, false, `${path} accepts unknown keys`);
    }
  }
});

test('every key of the file is described for editors', () => {
  for (const [path, node] of objects(schema, '#')) {
    if (node.properties === undefined || path.endsWith('/if')) continue;
    for (const [key, sub] of Object.entries(node.properties as Record<string, Node>)) {
      const described = typeof sub.description === 'string' || typeof target(sub).description === 'string';
      assert.ok(described, `${path}/properties/${key} has no description`);
    }
  }
});

test('the defaults SPEC §2 shows are the schema\'s defaults', () => {
  const limits = (schema.properties.limits as Node).properties as Record<string, Node>;
  assert.deepEqual(Object.fromEntries(Object.entries(limits).map(([k, v]) => [k, v.default])), {
    maxHeaderBytes: '16KiB', maxBodyBytes: '8MiB', maxInFlight: 1024, headersTimeout: '10s', bodyTimeout: '30s', drainTimeout: '20s',
  });
  const listen = (schema.properties.listen as Node).properties as Record<string, Node>;
  assert.deepEqual([listen.data!.default, listen.admin!.default], ['127.0.0.1:8080', '127.0.0.1:9901']);
});
