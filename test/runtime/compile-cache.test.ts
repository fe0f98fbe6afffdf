// The workers' compile cache lives in the shared temp dir, so it must be ours alone.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, mkdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { compileCacheDir } from '../../runtime/onnx-adapter.ts';

const base = mkdtempSync(path.join(os.tmpdir(), 'outrider-cc-test-'));
after(() => rmSync(base, { recursive: true, force: true }));
const uid = process.getuid?.() ?? -1;

test('creates a per-user directory with mode 0700', () => {
  const b = mkdtempSync(path.join(base, 'a-'));
  const dir = compileCacheDir(b);
  assert.equal(dir, path.join(b, `outrider-compile-cache-${uid}`));
  assert.equal(statSync(dir!).mode & 0o777, 0o700);
  assert.equal(compileCacheDir(b), dir, 'an existing safe directory is reused');
});

test('refuses a symlink planted at the path', () => {
  const b = mkdtempSync(path.join(base, 'b-'));
  const target = path.join(b, 'elsewhere');
  mkdirSync(target, { mode: 0o700 });
  symlinkSync(target, path.join(b, `outrider-compile-cache-${uid}`));
  assert.equal(compileCacheDir(b), null);
});

test('refuses a directory others can write', () => {
  const b = mkdtempSync(path.join(base, 'c-'));
  const dir = path.join(b, `outrider-compile-cache-${uid}`);
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  assert.equal(compileCacheDir(b), null);
});
