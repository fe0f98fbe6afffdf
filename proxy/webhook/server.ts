// The admission webhook's HTTPS server: POST /mutate (AdmissionReview), GET /healthz. The API
// server only speaks TLS to webhooks. Certificates are re-read when their files change (a
// Secret volume swaps them in place on rotation) without dropping open connections.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from '../telemetry/log.ts';
import type { InjectOptions } from '../inject/options.ts';
import { reviewAdmission } from './review.ts';

export interface WebhookOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly host: string;
  readonly port: number;
  readonly inject: InjectOptions;
  readonly log: Logger;
  /** How often the certificate files are checked for changes. */
  readonly certPollMs?: number;
}

export interface Webhook {
  readonly address: string;
  reloadCertificates(): boolean;
  close(): Promise<void>;
}

// The API server caps a request at 3 MiB; a Pod inside a review cannot be larger.
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export async function startWebhook(o: WebhookOptions): Promise<Webhook> {
  const server = https.createServer({ ...readPair(o), keepAliveTimeout: 30_000 }, (req, res) => handle(o, req, res));
  const reloadCertificates = (): boolean => {
    try {
      server.setSecureContext(readPair(o));
      o.log.info({ cert: o.certFile }, 'webhook certificate reloaded');
      return true;
    } catch (e) {
      // Mid-rotation the new certificate may sit beside the old key: keep serving the old pair.
      o.log.warn({ err: e, cert: o.certFile }, 'webhook certificate not reloaded');
      return false;
    }
  };
  const onChange = (cur: { mtimeMs: number }, prev: { mtimeMs: number }) => {
    if (cur.mtimeMs !== prev.mtimeMs) reloadCertificates();
  };
  const interval = o.certPollMs ?? 5_000;
  watchFile(o.certFile, { interval, persistent: false }, onChange);
  watchFile(o.keyFile, { interval, persistent: false }, onChange);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => { server.off('error', reject); resolve(); });
  });
  const a = server.address() as AddressInfo;
  const address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  return {
    address,
    reloadCertificates,
    close: () => new Promise<void>((resolve) => {
      unwatchFile(o.certFile, onChange);
      unwatchFile(o.keyFile, onChange);
      server.close(() => resolve());
      server.closeIdleConnections();
    }),
  };
}

function readPair(o: WebhookOptions): { cert: Buffer; key: Buffer } {
  return { cert: readFileSync(o.certFile), key: readFileSync(o.keyFile) };
}

function handle(o: WebhookOptions, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/healthz' && req.method === 'GET') return json(res, 200, { status: 'ok' });
  if (path !== '/mutate') return json(res, 404, { error: { code: 'not_found', message: `no endpoint ${path}; the webhook serves POST /mutate` } });
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    return json(res, 405, { error: { code: 'method_not_allowed', message: `${req.method} is not allowed on /mutate` } });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size > MAX_BODY_BYTES) {
      json(res, 413, { error: { code: 'body_too_large', message: `an AdmissionReview is at most ${MAX_BODY_BYTES} bytes` } });
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      return json(res, 400, { error: { code: 'invalid_request', message: `malformed AdmissionReview: the body is not JSON (${(e as Error).message})` } });
    }
    const out = reviewAdmission(body, o.inject);
    if (out.status === 200) {
      const level = out.event.decision === 'refused' ? 'warn' : 'info';
      o.log[level]({ ...out.event }, 'admission review');
    } else {
      o.log.warn({ error: out.body['error'] }, 'malformed admission review');
    }
    json(res, out.status, out.body);
  });
  req.on('error', () => res.destroy());
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
