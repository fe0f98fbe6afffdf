// Validated data -> the Config of types.ts: durations in ms, sizes in bytes, paths absolute,
// names checked across sections. Schema defaults are already in the data (see schema.ts).

import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { CacheConfig, Config, ListenAddress, RouteConfig, RuntimeConfig, UpstreamConfig } from './types.ts';
import { Field } from './field.ts';
import type { Report } from './report.ts';
import { normaliseRuntime } from './runtimes.ts';
import { normaliseRoute } from './routes.ts';
import { formatPath } from './source.ts';
import { checkFile } from './files.ts';

export async function normalise(data: unknown, file: string, report: Report): Promise<Config> {
  const dir = resolve(file, '..');
  const root = new Field(data, [], report);

  const listen = root.get('listen');
  const dataAddress = listenAddress(listen.get('data'), dir);
  const adminAddress = listenAddress(listen.get('admin'), dir);
  if (sharesPort(dataAddress, adminAddress)) {
    listen.get('admin').fail(`the admin port must differ from the data port (listen.data is ${listen.get('data').string()})`);
  }

  const listenTls = await listen.get('tls').optionalAsync(async (t) => {
    const cert = await pemFile(t.get('cert'), dir, 'certificate');
    const key = await pemFile(t.get('key'), dir, 'private key');
    const clientCa = await t.get('clientCa').optionalAsync((c) => pemFile(c, dir, 'client CA bundle'));
    return { cert, key, clientCa };
  });

  const limits = root.get('limits');
  const requestId = root.get('requestId');

  const runtimeFields = root.get('runtimes').list();
  const upstreamFields = root.get('upstreams').list();
  uniqueNames([...runtimeFields, ...upstreamFields], 'name', ' (runtimes and upstreams share one set of names)');
  const runtimes = (await Promise.all(runtimeFields.map((r) => normaliseRuntime(r, dir)))).filter((r): r is RuntimeConfig => r !== null);
  const upstreams = await Promise.all(upstreamFields.map((u) => upstream(u, dir)));

  // Names as written, so a runtime with another mistake does not also break every route using it.
  const backendNames = new Set([...runtimeFields, ...upstreamFields].map((b) => b.get('name').value).filter((n) => typeof n === 'string'));
  const routeFields = root.get('routes').list();
  uniqueNames(routeFields, 'route name', '');
  const routes: RouteConfig[] = routeFields.map((r) => normaliseRoute(r, backendNames));

  const telemetry = root.get('telemetry');
  return {
    version: 1,
    file,
    dir,
    listen: { data: dataAddress, admin: adminAddress, tls: listenTls },
    limits: {
      maxHeaderBytes: limits.get('maxHeaderBytes').size(),
      maxBodyBytes: limits.get('maxBodyBytes').size(),
      maxInFlight: limits.get('maxInFlight').number(),
      headersTimeout: limits.get('headersTimeout').duration(),
      bodyTimeout: limits.get('bodyTimeout').duration(),
      drainTimeout: limits.get('drainTimeout').duration(),
    },
    requestId: {
      header: requestId.get('header').string().toLowerCase(),
      trustIncoming: requestId.get('trustIncoming').boolean(),
    },
    runtimes,
    upstreams,
    routes,
    cache: cache(root.get('cache')),
    telemetry: {
      tracing: telemetry.get('tracing').boolean(),
      accessLog: telemetry.get('accessLog').boolean(),
      logLevel: telemetry.get('logLevel').string() as Config['telemetry']['logLevel'],
    },
  };
}

function listenAddress(f: Field, dir: string): ListenAddress {
  const text = f.string();
  if (text.startsWith('unix:')) return { kind: 'unix', path: resolve(dir, text.slice('unix:'.length)) };
  const m = /^(?:\[([^\]]+)\]|([^:]+)):([0-9]+)$/.exec(text);
  if (m === null) return { kind: 'tcp', host: '', port: 0 };   // the schema has reported it
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (m[1] !== undefined && isIP(host) !== 6) f.fail(`expected an IPv6 address between [ and ], got ${JSON.stringify(host)}`);
  if (port > 65535) f.fail(`expected a port from 0 to 65535, got ${port}`);
  return { kind: 'tcp', host, port };
}

// Port 0 asks the OS for a free port, so two port-0 listeners never collide.
function sharesPort(a: ListenAddress, b: ListenAddress): boolean {
  if (a.kind === 'unix' || b.kind === 'unix') return a.kind === 'unix' && b.kind === 'unix' && a.path === b.path;
  if (a.port === 0 || a.port !== b.port) return false;
  const wildcard = (h: string) => h === '0.0.0.0' || h === '::';
  return a.host === b.host || wildcard(a.host) || wildcard(b.host);
}

function uniqueNames(items: readonly Field[], what: string, note: string): void {
  const first = new Map<string, Field>();
  for (const item of items) {
    const name = item.get('name');
    if (typeof name.value !== 'string') continue;
    const earlier = first.get(name.value);
    if (earlier === undefined) first.set(name.value, item);
    else name.fail(`duplicate ${what} \`${name.value}\`: already used by ${formatPath(earlier.path)}${note}`);
  }
}

async function upstream(f: Field, dir: string): Promise<UpstreamConfig> {
  const seen = new Set<string>();
  const endpoints: string[] = [];
  for (const e of f.get('endpoints').list()) {
    const origin = endpointOrigin(e);
    if (origin === null) continue;
    if (seen.has(origin)) e.fail(`endpoint ${origin} is listed twice`);
    seen.add(origin);
    endpoints.push(origin);
  }
  return {
    name: f.get('name').string(),
    endpoints,
    outlier: f.get('outlier').optional((o) => ({
      consecutiveFailures: o.get('consecutiveFailures').number(),
      ejectFor: o.get('ejectFor').duration(),
    })),
    tls: await f.get('tls').optionalAsync(async (t) => {
      const cert = await t.get('cert').optionalAsync((c) => pemFile(c, dir, 'client certificate'));
      const key = await t.get('key').optionalAsync((k) => pemFile(k, dir, 'client private key'));
      if ((cert === null) !== (key === null)) t.fail('`cert` and `key` go together: give both for a client certificate, or neither');
      if (!endpoints.some((e) => e.startsWith('https:'))) t.fail('`tls` applies to https:// endpoints, and this upstream has none');
      return {
        ca: await t.get('ca').optionalAsync((c) => pemFile(c, dir, 'CA bundle')),
        cert,
        key,
        serverName: t.get('serverName').optional((n) => n.string()),
        insecureSkipVerify: t.get('insecureSkipVerify').boolean(),
      };
    }),
  };
}

/** A PEM file named in the config: resolved against the config's directory and checked to exist. */
async function pemFile(f: Field, dir: string, what: string): Promise<string> {
  const file = resolve(dir, f.string());
  if (f.present) await checkFile(f, file, what);
  return file;
}

/** `http://10.0.0.7:8000/` -> `http://10.0.0.7:8000`; anything beyond an origin is refused. */
function endpointOrigin(f: Field): string | null {
  if (typeof f.value !== 'string') return null;
  let url: URL;
  try {
    url = new URL(f.value);
  } catch {
    f.fail(`expected an http:// or https:// origin such as "http://10.0.0.7:8000", got ${JSON.stringify(f.value)}`);
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;   // the schema has reported it
  if (url.username !== '' || url.password !== '') {
    f.fail('expected an origin without credentials; send them as headers from the client');
  } else if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    f.fail(`expected an origin without a path, query or fragment (such as "${url.origin}"): the request's own path is sent to it`);
  }
  return url.origin;
}

// A response larger than this is streamed through unstored unless `cache.maxEntryBytes` says otherwise.
const DEFAULT_MAX_ENTRY_BYTES = 1024 * 1024;

function cache(f: Field): CacheConfig {
  const store = f.get('store');
  const redis = f.get('redis');
  if (store.value === 'redis' && !redis.present) store.fail('`store: redis` needs a `redis: { url }` block');
  const maxBytes = f.get('maxBytes').size();
  const entry = f.get('maxEntryBytes');
  const maxEntryBytes = entry.optional((e) => e.size()) ?? Math.min(DEFAULT_MAX_ENTRY_BYTES, Math.floor(maxBytes / 8));
  if (maxEntryBytes > maxBytes) entry.fail(`maxEntryBytes (${entry.value}) is larger than maxBytes, the whole store`);
  return {
    maxBytes,
    maxEntryBytes,
    store: store.string() as CacheConfig['store'],
    redis: redis.optional((r) => {
      const url = r.get('url');
      if (typeof url.value === 'string' && !URL.canParse(url.value)) url.fail(`expected a redis:// or rediss:// URL, got ${JSON.stringify(url.value)}`);
      return { url: url.string(), prefix: r.get('prefix').string() };
    }),
  };
}
