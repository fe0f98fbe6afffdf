// TLS at the edge (with live certificate rotation and client-certificate auth) and towards
// https upstreams with a private CA and a client certificate (mTLS between sidecars).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Agent, request } from 'undici';
import { makePki } from '../helpers/certs.ts';
import { startOutrider } from '../helpers/outrider.ts';
import { echo, startUpstream } from '../helpers/upstreams.ts';

function peerSerial(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.end();
      resolve(serial);
    });
    s.on('error', reject);
  });
}

test('terminates TLS on the data port and reloads a rotated certificate without dropping connections', async (t) => {
  const pki = makePki();
  const first = pki.issue('server-1', 'localhost');
  const second = pki.issue('server-2', 'localhost');
  const live = { cert: `${pki.dir}/live.crt`, key: `${pki.dir}/live.key` };
  copyFileSync(first.cert, live.cert);
  copyFileSync(first.key, live.key);
  const up = await startUpstream(echo);
  const o = await startOutrider(`
version: 1
listen:
  data: 127.0.0.1:0
  admin: 127.0.0.1:0
  tls: { cert: ${live.cert}, key: ${live.key} }
upstreams: [ { name: up, endpoints: [${up.origin}] } ]
routes: [ { name: main, match: { path: /, prefix: true }, backends: [ { to: up } ] } ]
`);
  t.after(async () => { await o.stop(); await up.close(); });
  const port = Number(new URL(o.data).port);
  const ca = pki.read(pki.caCert);
  const client = new Agent({ connect: { ca, servername: 'localhost' }, keepAliveTimeout: 30_000 });
  t.after(() => client.close());
  const url = `https://127.0.0.1:${port}/x`;
  const r1 = await request(url, { dispatcher: client });
  assert.equal(r1.statusCode, 200);
  const seen = await r1.body.json() as { headers: Record<string, string> };
  assert.equal(seen.headers['x-forwarded-proto'], 'https');
  assert.equal(await peerSerial(port, ca), '01');

  // Rotate in place, as cert-manager does; the kept-alive connection goes on working.
  copyFileSync(second.cert, live.cert);
  copyFileSync(second.key, live.key);
  await o.waitForLog((l) => l['msg'] === 'TLS certificate reloaded', 10_000);
  const r2 = await request(url, { dispatcher: client });
  assert.equal(r2.statusCode, 200);
  await r2.body.dump();
  assert.equal(await peerSerial(port, ca), '02', 'new connections get the new certificate');
});

test('requires a client certificate when listen.tls.clientCa is set', async (t) => {
  const pki = makePki();
  const server = pki.issue('server', 'localhost');
  const clientCert = pki.issue('client', 'sidecar-a', { client: true });
  const up = await startUpstream(echo);
  const o = await startOutrider(`
version: 1
listen:
  data: 127.0.0.1:0
  admin: 127.0.0.1:0
  tls: { cert: ${server.cert}, key: ${server.key}, clientCa: ${pki.caCert} }
upstreams: [ { name: up, endpoints: [${up.origin}] } ]
routes: [ { name: main, match: { path: /, prefix: true }, backends: [ { to: up } ] } ]
`);
  t.after(async () => { await o.stop(); await up.close(); });
  const url = `https://127.0.0.1:${new URL(o.data).port}/x`;
  const ca = pki.read(pki.caCert);
  const anonymous = new Agent({ connect: { ca, servername: 'localhost' } });
  await assert.rejects(request(url, { dispatcher: anonymous }).then((r) => r.body.text()));
  await anonymous.close();
  const withCert = new Agent({ connect: { ca, servername: 'localhost', cert: pki.read(clientCert.cert), key: pki.read(clientCert.key) } });
  const ok = await request(url, { dispatcher: withCert });
  assert.equal(ok.statusCode, 200);
  await ok.body.dump();
  await withCert.close();
});

test('forwards to an https upstream that requires mTLS, with a private CA and a client certificate', async (t) => {
  const pki = makePki();
  const upCert = pki.issue('upstream', 'model.internal');
  const clientCert = pki.issue('outrider', 'outrider', { client: true });
  const seenClient: string[] = [];
  const upstream = https.createServer({
    cert: pki.read(upCert.cert), key: pki.read(upCert.key), ca: pki.read(pki.caCert), requestCert: true, rejectUnauthorized: true,
  }, (req, res) => {
    seenClient.push(String((req.socket as tls.TLSSocket).getPeerCertificate().subject.CN ?? ''));
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('secure');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  t.after(() => { upstream.closeAllConnections(); upstream.close(); });
  const yaml = (tlsBlock: string) => `
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
upstreams:
  - name: secure
    endpoints: [https://127.0.0.1:${port}]
    ${tlsBlock}
routes: [ { name: main, match: { path: /, prefix: true }, backends: [ { to: secure } ] } ]
`;
  const o = await startOutrider(yaml(`tls: { ca: ${pki.caCert}, cert: ${clientCert.cert}, key: ${clientCert.key}, serverName: model.internal }`));
  t.after(() => o.stop());
  const r = await request(`${o.data}/x`);
  assert.equal(r.statusCode, 200);
  assert.equal(await r.body.text(), 'secure');
  assert.deepEqual(seenClient, ['outrider']);

  // Without the client certificate the upstream refuses the handshake: an honest 502/503, no crash.
  const o2 = await startOutrider(yaml(`tls: { ca: ${pki.caCert}, serverName: model.internal }`));
  t.after(() => o2.stop());
  const refused = await request(`${o2.data}/x`);
  assert.ok(refused.statusCode === 502 || refused.statusCode === 503, `status ${refused.statusCode}`);
  await refused.body.dump();
});

test('a stalled TLS handshake neither outlives limits.headersTimeout nor holds SIGTERM past drainTimeout', async (t) => {
  const pki = makePki();
  const server = pki.issue('server', 'localhost');
  const up = await startUpstream(echo);
  t.after(() => up.close());
  const start = (limits: string) => startOutrider(`
version: 1
listen:
  data: 127.0.0.1:0
  admin: 127.0.0.1:0
  tls: { cert: ${server.cert}, key: ${server.key} }
limits: ${limits}
upstreams: [ { name: up, endpoints: [${up.origin}] } ]
routes: [ { name: main, match: { path: /, prefix: true }, backends: [ { to: up } ] } ]
`);
  const stall = async (port: number): Promise<net.Socket> => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    t.after(() => s.destroy());
    await new Promise<void>((r) => s.once('connect', () => r()));
    return s;
  };

  // Connected, never a byte of handshake: closed by the server once headersTimeout has passed.
  const a = await start('{ headersTimeout: 1s }');
  t.after(() => a.stop('SIGKILL'));
  const opened = performance.now();
  const idle = await stall(Number(new URL(a.data).port));
  await new Promise<void>((r) => idle.once('close', () => r()));
  const closedAfter = performance.now() - opened;
  assert.ok(closedAfter >= 900 && closedAfter < 5_000, `a stalled handshake was closed after ${Math.round(closedAfter)} ms`);
  // The listener is unharmed.
  const agent = new Agent({ connect: { ca: pki.read(pki.caCert), servername: 'localhost' } });
  t.after(() => agent.close());
  const ok = await request(`https://127.0.0.1:${new URL(a.data).port}/x`, { dispatcher: agent });
  assert.equal(ok.statusCode, 200);
  await ok.body.dump();

  // A handshake stalled when SIGTERM arrives does not hold the exit past drainTimeout, even
  // when headersTimeout would let it live longer.
  const b = await start('{ headersTimeout: 30s, drainTimeout: 1s }');
  t.after(() => b.stop('SIGKILL'));
  await stall(Number(new URL(b.data).port));
  const termAt = performance.now();
  b.proc.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => b.proc.once('exit', (c) => r(c)));
  const took = performance.now() - termAt;
  assert.equal(code, 0);
  assert.ok(took < 5_000, `exit took ${Math.round(took)} ms with a handshake stalled`);
});
