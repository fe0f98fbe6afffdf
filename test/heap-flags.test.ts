// The V8 heap flags Outrider is launched with (proxy/heap-flags.ts) are the ones `npm start`
// and the image's ENTRYPOINT pass, and node accepts them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { HEAP_FLAGS } from '../proxy/heap-flags.ts';

const ROOT = new URL('../', import.meta.url);

test('npm start and the image\'s ENTRYPOINT pass HEAP_FLAGS to node, before the script', () => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts['start'], `node ${HEAP_FLAGS.join(' ')} proxy/cli.ts run -c examples/outrider.yaml`);
  const dockerfile = readFileSync(new URL('Dockerfile', ROOT), 'utf8');
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
  assert.ok(entrypoint !== undefined, 'the Dockerfile has an exec-form ENTRYPOINT');
  assert.deepEqual(JSON.parse(entrypoint), ['node', ...HEAP_FLAGS, 'bin/outrider.js']);
});

test('node takes the flags (it refuses a misspelt one with exit 9)', () => {
  const out = execFileSync(process.execPath, [...HEAP_FLAGS, '-e', 'process.stdout.write(JSON.stringify(process.execArgv))'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.deepEqual((JSON.parse(out) as string[]).slice(0, HEAP_FLAGS.length), HEAP_FLAGS);
});
