// The effective config for GET /config (SPEC §5), with secrets replaced by "***": the
// password of the Redis URL, values of environment variables and headers whose names look
// secret (authorization and cookie headers among them), and the values of secret-looking
// command-line flags of process runtimes (`--token X`, `--api-key=X`).

import type { Config, FallbackStep, HeaderMatch, RouteConfig, RuntimeConfig, WarmupRequest } from './types.ts';

const MASK = '***';
const SECRET_NAME = /token|secret|passw(or)?d|key|auth|credential|cookie/i;
const SECRET_FLAG = /^--?[A-Za-z0-9_.-]*(token|secret|passw(or)?d|key|auth|credential|cookie)[A-Za-z0-9_.-]*$/i;

/** A JSON-able copy of `c` with secrets masked; `c` is left as it is. */
export function redactConfig(c: Config): unknown {
  return {
    ...c,
    runtimes: c.runtimes.map(runtime),
    routes: c.routes.map(route),
    cache: { ...c.cache, redis: c.cache.redis === null ? null : { ...c.cache.redis, url: redactUrl(c.cache.redis.url) } },
  };
}

function runtime(r: RuntimeConfig): RuntimeConfig {
  if (r.kind === 'onnx') return r;
  return {
    ...r,
    command: redactArgs(r.command),
    env: redactMap(r.env),
    warmup: { ...r.warmup, requests: r.warmup.requests.map((q): WarmupRequest => ({ ...q, headers: redactMap(q.headers) })) },
  };
}

function route(r: RouteConfig): RouteConfig {
  return {
    ...r,
    match: { ...r.match, headers: r.match.headers.map((h): HeaderMatch => (h.value !== null && SECRET_NAME.test(h.name) ? { ...h, value: MASK } : h)) },
    fallback: r.fallback.map((s): FallbackStep => (s.kind === 'static' ? { ...s, headers: redactMap(s.headers) } : s)),
  };
}

function redactMap(map: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, SECRET_NAME.test(k) ? MASK : v]));
}

function redactArgs(args: readonly string[]): string[] {
  return args.map((arg, i) => {
    const eq = arg.indexOf('=');
    if (arg.startsWith('-') && eq > 0 && SECRET_FLAG.test(arg.slice(0, eq))) return `${arg.slice(0, eq + 1)}${MASK}`;
    const previous = args[i - 1];
    return previous !== undefined && SECRET_FLAG.test(previous) && !arg.startsWith('-') ? MASK : arg;
  });
}

/** The URL with its password masked; a lone user part is masked too, since some clients read it as the password. */
export function redactUrl(text: string): string {
  if (!URL.canParse(text)) return MASK;
  const url = new URL(text);
  if (url.password !== '') url.password = MASK;
  else if (url.username !== '') url.username = MASK;
  else return text;
  return url.href;
}
