// Files a config names (models, warm-up samples and bodies, working directories) are checked
// when the config is loaded, so a typo fails `outrider validate` rather than a replica start.

import { readFile, stat } from 'node:fs/promises';
import type { Field } from './field.ts';

/** True when `file` is an existing regular file; otherwise reports why at `at`. */
export async function checkFile(at: Field, file: string, what: string): Promise<boolean> {
  try {
    if ((await stat(file)).isFile()) return true;
    at.fail(`${what} ${file} is not a file`);
  } catch (e) {
    at.fail(`${what} ${file} ${reason(e)}`);
  }
  return false;
}

export async function checkDirectory(at: Field, dir: string, what: string): Promise<boolean> {
  try {
    if ((await stat(dir)).isDirectory()) return true;
    at.fail(`${what} ${dir} is not a directory`);
  } catch (e) {
    at.fail(`${what} ${dir} ${reason(e)}`);
  }
  return false;
}

/** The file's text, or null after reporting why it cannot be read at `at`. */
export async function readText(at: Field, file: string, what: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    at.fail(`${what} ${file} ${reason(e)}`);
    return null;
  }
}

function reason(e: unknown): string {
  switch ((e as NodeJS.ErrnoException).code) {
    case 'ENOENT': return 'does not exist';
    case 'EACCES': case 'EPERM': return 'cannot be read (permission denied)';
    case 'EISDIR': return 'is a directory, not a file';
    case 'ENOTDIR': return 'does not exist (a part of the path is not a directory)';
    default: return `cannot be read (${(e as Error).message})`;
  }
}
