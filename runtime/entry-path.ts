// Entry scripts forked as their own processes (the ONNX worker, the process keeper) are
// `.ts` when run from source and `.js` next to this module once compiled to dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `relative` names the `.ts` source; `base` is the caller's import.meta.url. */
export function entryPath(relative: string, base: string): string {
  const ts = fileURLToPath(new URL(relative, base));
  return existsSync(ts) ? ts : ts.replace(/\.ts$/, '.js');
}
