// The Dockerfile, checked as far as a machine without a Docker engine allows: a linter, then its
// stages replayed outside Docker from its own instructions (so the test fails when they drift):
// every COPY is done as Docker would, every RUN is mapped to a local equivalent, and the
// image's ENTRYPOINT, CMD and HEALTHCHECK are run in the resulting tree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { DockerfileParser } from 'dockerfile-ast';
import type { Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { ROOT } from './helpers/outrider.ts';

const run = promisify(execFile);
const DOCKERFILE = path.join(ROOT, 'Dockerfile');
const WORKDIR = '/app';

interface Stage { readonly name: string; readonly dir: string; readonly env: Record<string, string>; readonly meta: Map<string, string> }

test('the Dockerfile passes the dockerfile-utils linter', async () => {
  // hadolint has no Debian or working npm package here; dockerfile-utils is the linter of the
  // VS Code Docker extension's language server.
  const src = await readFile(DOCKERFILE, 'utf8');
  assert.deepEqual(validate(src, {}).map((d) => `${d.range.start.line + 1}: ${d.message}`), []);
  // The linter is live: it does flag a broken file.
  assert.ok(validate('FROM node:24-bookworm-slim\nEXPOSE http\nCMD node x.js\nCMD node y.js\n', {}).length > 0);
});

test('the image\'s steps, replayed outside Docker, give a tree whose entrypoint, command and healthcheck work', async (t) => {
  const tmp = await mkdtemp(path.join(tmpdir(), 'outrider-image-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));
  const ignored = await dockerignore();
  const df = DockerfileParser.parse(await readFile(DOCKERFILE, 'utf8'));
  const stages = new Map<string, Stage>();
  let stage: Stage | undefined;

  for (const ins of df.getInstructions()) {
    const keyword = ins.getKeyword();
    const args = ins.getArgumentsContent() ?? '';
    if (keyword === 'FROM') {
      const from = df.getFROMs().find((f) => f.getRange().start.line === ins.getRange().start.line)!;
      assert.equal(from.getImage(), 'node:24-bookworm-slim', 'every stage runs on the Node 24 Debian slim image');
      const name = from.getBuildStage() ?? 'final';
      stage = { name, dir: path.join(tmp, name), env: {}, meta: new Map() };
      await mkdir(stage.dir, { recursive: true });
      stages.set(name, stage);
      continue;
    }
    assert.ok(stage !== undefined, `${keyword} before FROM`);
    switch (keyword) {
      case 'WORKDIR':
        assert.equal(args, WORKDIR, 'the replay maps the image\'s /app to the stage directory');
        break;
      case 'COPY':
        await copy(ins, stage, stages, ignored);
        break;
      case 'RUN':
        await replayRun(args, stage);
        break;
      case 'ENV':
        for (const p of (ins as unknown as { getProperties(): { getName(): string; getValue(): string | null }[] }).getProperties()) stage.env[p.getName()] = p.getValue() ?? '';
        break;
      default:
        stage.meta.set(keyword, args);
    }
  }

  const final = stages.get('final')!;
  assert.equal(final.meta.get('USER'), '1000:1000', 'the image runs as a non-root, numeric user');
  assert.equal(final.meta.get('EXPOSE'), '8080 9901');
  assert.deepEqual(final.env, { NODE_ENV: 'production', OUTRIDER_DATA: '0.0.0.0:8080', OUTRIDER_ADMIN: '0.0.0.0:9901' });
  // Only compiled code: bin/outrider.js must find dist/, not the TypeScript sources.
  assert.equal(existsSync(path.join(final.dir, 'proxy', 'cli.ts')), false);
  assert.ok(existsSync(path.join(final.dir, 'dist', 'proxy', 'cli.js')));
  assert.ok(existsSync(path.join(final.dir, 'proxy', 'config', 'outrider.schema.json')), 'editors find the schema examples/outrider.yaml points at');

  const entrypoint = execForm(final.meta.get('ENTRYPOINT')!);
  const cmd = execForm(final.meta.get('CMD')!);
  assert.equal(entrypoint[0], 'node');
  const image = (argv: readonly string[]) => [process.execPath, ...argv.slice(1)].map((a) => a.startsWith(`${WORKDIR}/`) ? path.join(final.dir, a.slice(WORKDIR.length + 1)) : a);
  const env = { ...process.env, ...final.env };

  const validated = await run(image(entrypoint)[0]!, [...image(entrypoint).slice(1), 'validate', '-c', 'examples/outrider.yaml'], { cwd: final.dir, env });
  assert.match(validated.stdout, /examples\/outrider\.yaml: valid/);

  // The default command, on loopback port 0 instead of the image's 0.0.0.0:8080.
  const argv = image([...entrypoint, ...cmd]);
  const proc = spawn(argv[0]!, argv.slice(1), { cwd: final.dir, env: { ...env, OUTRIDER_DATA: '127.0.0.1:0', OUTRIDER_ADMIN: '127.0.0.1:0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const admin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the image's command did not listen: ${stderr}`)), 30_000);
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the image's command exited ${code}: ${stderr}`)); });
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      const l = JSON.parse(line) as Record<string, unknown>;
      if (l['msg'] === 'listening') { clearTimeout(timer); resolve(l['admin'] as string); }
    });
  });

  const healthcheck = final.meta.get('HEALTHCHECK')!;
  assert.match(healthcheck, /^CMD \[/);
  const check = image(execForm(healthcheck.slice(4)));
  const port = admin.slice(admin.lastIndexOf(':') + 1);
  for (const address of [admin, `0.0.0.0:${port}`]) {
    const r = await run(check[0]!, check.slice(1), { cwd: final.dir, env: { ...env, OUTRIDER_ADMIN: address } }).then(() => 0, (e: { code: number }) => e.code);
    assert.equal(r, 0, `HEALTHCHECK against ${address}`);
  }
  proc.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  assert.equal(code, 0, stderr);
  const down = await run(check[0]!, check.slice(1), { cwd: final.dir, env: { ...env, OUTRIDER_ADMIN: admin } }).then(() => 0, (e: { code: number }) => e.code);
  assert.equal(down, 1, 'HEALTHCHECK fails once the process is gone');
});

function execForm(json: string): string[] {
  const argv = JSON.parse(json) as unknown;
  assert.ok(Array.isArray(argv) && argv.every((a) => typeof a === 'string'), `exec form expected: ${json}`);
  return argv;
}

/** Docker's COPY: sources from the build context (less .dockerignore) or from an earlier stage. */
async function copy(ins: Instruction, stage: Stage, stages: Map<string, Stage>, ignored: (rel: string) => boolean): Promise<void> {
  const from = (ins as unknown as { getFromFlag(): { getValue(): string | null } | null }).getFromFlag()?.getValue() ?? null;
  const parts = ins.getArguments().map((a) => a.getValue()).filter((a) => !a.startsWith('--'));
  const dest = parts.pop()!;
  const source = from === null ? ROOT : stages.get(from)?.dir;
  assert.ok(source !== undefined, `COPY --from=${from}: no such stage`);
  const destPath = path.resolve(stage.dir, dest.startsWith(`${WORKDIR}/`) ? dest.slice(WORKDIR.length + 1) : dest);
  for (const src of parts) {
    const rel = from === null ? src : path.relative(WORKDIR, src);
    assert.ok(!rel.startsWith('..'), `COPY ${src}: outside ${WORKDIR}`);
    const abs = path.join(source, rel);
    if (from === null) assert.ok(!ignored(rel), `COPY ${src}: excluded by .dockerignore`);
    const isDir = (await stat(abs)).isDirectory();
    // A directory's contents go into dest; a file goes into dest/ when dest ends with a slash.
    const target = !isDir && dest.endsWith('/') ? path.join(destPath, path.basename(rel)) : destPath;
    await cp(abs, target, {
      recursive: true, dereference: false, verbatimSymlinks: true,
      filter: (p) => from !== null || !ignored(path.relative(ROOT, p)),
    });
  }
}

/** Each RUN of the Dockerfile and what stands in for it here (no network, no Docker). */
async function replayRun(command: string, stage: Stage): Promise<void> {
  if (command === 'npm ci --no-audit --no-fund') {
    // Every dependency, dev ones included: the checkout's own install, from the same lockfile.
    await symlink(path.join(ROOT, 'node_modules'), path.join(stage.dir, 'node_modules'), 'dir');
  } else if (command === 'npx tsc -p tsconfig.build.json') {
    // --noCheck: the same JavaScript, without the type check `npm test` already runs on these sources.
    await run(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json', '--noCheck'], { cwd: stage.dir });
  } else if (command === 'npm ci --omit=dev --no-audit --no-fund && npm cache clean --force') {
    await productionTree(stage.dir);
  } else {
    assert.fail(`RUN ${command}: this test does not know how to replay it; teach replayRun`);
  }
}

/**
 * What `npm ci --omit=dev` installs: every package-lock.json entry not marked dev, taken from the
 * checkout's node_modules (which `npm ci` made from the same lockfile), as a real tree so that
 * Node's resolution cannot reach a dev dependency by following a symlink.
 */
async function productionTree(dir: string): Promise<void> {
  const lock = JSON.parse(await readFile(path.join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; dev?: boolean; optional?: boolean }> };
  const done: string[] = [];
  const keys = Object.keys(lock.packages).filter((k) => k.startsWith('node_modules/')).sort();
  for (const key of keys) {
    const entry = lock.packages[key]!;
    if (entry.dev === true || done.some((d) => key.startsWith(`${d}/`))) continue;
    const from = path.join(ROOT, key);
    if (!existsSync(from)) {
      assert.ok(entry.optional === true, `${key} is in the lockfile but not installed: run npm ci`);
      continue;
    }
    const installed = JSON.parse(await readFile(path.join(from, 'package.json'), 'utf8')) as { version: string };
    assert.equal(installed.version, entry.version, `${key}: node_modules is out of step with package-lock.json; run npm ci`);
    await mkdir(path.dirname(path.join(dir, key)), { recursive: true });
    // Hard links where the filesystem allows: onnxruntime-node alone is hundreds of MB.
    await run('cp', ['-al', from, path.join(dir, key)]).catch(() => run('cp', ['-a', from, path.join(dir, key)]));
    done.push(key);
  }
  const top = await readdir(path.join(dir, 'node_modules'));
  for (const name of top.filter((n) => !n.startsWith('.'))) {
    const names = name.startsWith('@') ? (await readdir(path.join(dir, 'node_modules', name))).map((n) => `${name}/${n}`) : [name];
    for (const n of names) assert.ok(lock.packages[`node_modules/${n}`]?.dev !== true, `dev dependency ${n} in the production tree`);
  }
}

/** .dockerignore patterns, Docker's way: relative to the context root, `**` across directories. */
async function dockerignore(): Promise<(rel: string) => boolean> {
  const patterns = (await readFile(path.join(ROOT, '.dockerignore'), 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  assert.ok(patterns.every((p) => !p.startsWith('!')), 'exceptions (!) are not replayed by this test');
  return (rel) => rel !== '' && patterns.some((p) => {
    // A pattern that names a directory excludes everything under it.
    const parts = rel.split(path.sep);
    return parts.some((_, i) => path.matchesGlob(parts.slice(0, i + 1).join('/'), p));
  });
}
