// TLS at the edge (listen.tls) and towards upstreams (upstreams[].tls).
// Certificates on disk are re-read when they change (cert-manager and Kubernetes secrets
// rotate them in place); the listener swaps its secure context without dropping connections.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type https from 'node:https';
import { Agent } from 'undici';
import type { ListenTls, UpstreamTls } from './config/types.ts';
import type { Logger } from './telemetry/log.ts';

export function serverTlsOptions(tls: ListenTls): https.ServerOptions {
  return {
    cert: readFileSync(tls.cert),
    key: readFileSync(tls.key),
    ...(tls.clientCa === null ? {} : { ca: readFileSync(tls.clientCa), requestCert: true, rejectUnauthorized: true }),
  };
}

const WATCH_INTERVAL_MS = 1_000;

/** Re-reads the files when any changes; a half-written or invalid pair keeps the old context. Returns the unwatch. */
export function watchServerTls(server: https.Server, tls: ListenTls, log: Logger): () => void {
  const files = [tls.cert, tls.key, ...(tls.clientCa === null ? [] : [tls.clientCa])];
  const onChange = (cur: { mtimeMs: number }, prev: { mtimeMs: number }) => {
    if (cur.mtimeMs === prev.mtimeMs) return;
    try {
      server.setSecureContext(serverTlsOptions(tls));
      log.info({ cert: tls.cert }, 'TLS certificate reloaded');
    } catch (e) {
      log.warn({ cert: tls.cert, err: (e as Error).message }, 'TLS certificate change not applied; the previous certificate stays');
    }
  };
  for (const f of files) watchFile(f, { interval: WATCH_INTERVAL_MS, persistent: false }, onChange);
  return () => { for (const f of files) unwatchFile(f, onChange); };
}

/** An undici Agent for an upstream's https:// endpoints with its CA, client certificate and name to verify. */
export function upstreamAgent(tls: UpstreamTls): Agent {
  return new Agent({
    keepAliveTimeout: 4_000,
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: {
      timeout: 5_000,
      ...(tls.ca === null ? {} : { ca: readFileSync(tls.ca) }),
      ...(tls.cert === null || tls.key === null ? {} : { cert: readFileSync(tls.cert), key: readFileSync(tls.key) }),
      ...(tls.serverName === null ? {} : { servername: tls.serverName }),
      rejectUnauthorized: !tls.insecureSkipVerify,
    },
  });
}
