// ${VAR} and ${VAR:-default} in string values, from an environment object (SPEC §2).
// `$$` is a literal `$`; a lone `$` not followed by `{` stays as written. `:-` follows the
// shell: the default applies when the variable is unset or empty. Keys are never substituted.
//
// ${PORT} in a runtime's command, env and health is left in place: the supervisor assigns a
// port to each replica and substitutes it at spawn time. It is also left in top-level `x-`
// keys, where anchors shared by several runtimes live (`x-serve: &serve [..., "${PORT}"]`).

import { isMap, isPair, isScalar, isSeq, parse } from 'yaml';
import type { Scalar } from 'yaml';
import type { Path, Segment } from './source.ts';
import type { Report } from './report.ts';

const REFERENCE = /\$\$|\$\{([^}]*)\}|\$\{/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PER_REPLICA = new Set(['command', 'env', 'health']);

export function substituteEnv(root: unknown, env: NodeJS.ProcessEnv, report: Report): void {
  walk(root, [], env, report);
}

function walk(node: unknown, path: Segment[], env: NodeJS.ProcessEnv, report: Report): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue;
      walk(pair.value, [...path, String(pair.key.value)], env, report);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => walk(item, [...path, i], env, report));
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('$')) {
    substituteScalar(node, path, env, report);
  }
}

function substituteScalar(node: Scalar, path: Path, env: NodeJS.ProcessEnv, report: Report): void {
  const text = node.value as string;
  const keepPort = (path[0] === 'runtimes' && typeof path[1] === 'number' && PER_REPLICA.has(String(path[2])))
    || String(path[0]).startsWith('x-');
  let failed = false;
  let substituted = false;
  const out = text.replace(REFERENCE, (match: string, inner: string | undefined) => {
    if (match === '$$') return '$';
    if (inner === undefined) {
      failed = true;
      report.add('env', path, 'unterminated `${`: write `${NAME}`, `${NAME:-default}`, or `$$` for a literal `$`');
      return match;
    }
    const cut = inner.indexOf(':-');
    const name = cut === -1 ? inner : inner.slice(0, cut);
    if (!NAME.test(name)) {
      failed = true;
      report.add('env', path, `\`${match}\` is not a variable reference: names are letters, digits and _, not starting with a digit (write \`$$\` for a literal \`$\`)`);
      return match;
    }
    if (keepPort && name === 'PORT') {
      if (cut === -1) return match;
      failed = true;
      report.add('env', path, 'PORT is assigned to each replica by Outrider; write `${PORT}` without a default');
      return match;
    }
    const value = env[name];
    if (value !== undefined && (cut === -1 || value !== '')) { substituted = true; return value; }
    if (cut !== -1) { substituted = true; return inner.slice(cut + 2); }
    failed = true;
    report.add('env', path, `environment variable \`${name}\` is not set (give a default with \`\${${name}:-default}\`)`);
    return match;
  });
  if (failed) return;
  node.value = substituted && node.type === 'PLAIN' ? retype(out) : out;
}

// An unquoted `replicas: ${REPLICAS}` means the number, as if the value had been written
// there; a quoted one stays a string. Only numbers and booleans are taken this way, so a
// variable can never inject structure into the file.
function retype(text: string): string | number | boolean {
  try {
    const value: unknown = parse(text, { logLevel: 'silent' });
    return typeof value === 'number' || typeof value === 'boolean' ? value : text;
  } catch {
    return text;
  }
}
