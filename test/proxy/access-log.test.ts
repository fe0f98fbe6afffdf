// The hand-built access-log line must be the line pino writes for the same entry, byte for byte:
// log readers (and the tests that wait for `msg: "request"`) see one format whichever wrote it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { accessLine, type AccessEntry } from '../../proxy/telemetry/access-log.ts';

function pinoLine(entry: AccessEntry, time: number): string {
  let out = '';
  const sink = new Writable({ write(chunk, _enc, cb) { out += String(chunk); cb(); } });
  const log = pino({ level: 'info', base: { svc: 'outrider' }, timestamp: () => `,"time":${time}` }, sink);
  log.info(entry, 'request');
  return out;
}

const base: AccessEntry = {
  requestId: 'a1b2c3-1', route: 'infer', backend: 'mlp', endpoint: 'mlp/http://127.0.0.1:4100', method: 'POST',
  path: '/v2/models/mlp/infer', status: 200, code: undefined, detail: undefined, cache: undefined, degraded: undefined,
  attempts: undefined, durationMs: 1.234, headMs: 0.5, upstreamMs: 0.9, bytesIn: 1024, bytesOut: 312, traceId: undefined,
};

test('a plain entry is the line pino writes', () => {
  assert.equal(accessLine(base, 1_733_000_000_123), pinoLine(base, 1_733_000_000_123));
});

test('every optional field, null and odd values match pino too', () => {
  const full: AccessEntry = {
    ...base, endpoint: null, code: 'unavailable', detail: 'no_endpoint', cache: 'stale', degraded: 'stale-cache', attempts: 3,
    headMs: undefined, upstreamMs: Number.NaN, durationMs: Number.POSITIVE_INFINITY, traceId: '0af7651916cd43dd8448eb211c80319c',
  };
  assert.equal(accessLine(full, 5), pinoLine(full, 5));
});

test('client-chosen paths are escaped as JSON', () => {
  for (const path of ['/a"b', '/back\\slash', '/tab\there', '/nl\nx', '/ünïcødé/☃', '/\u0000\u001f\u007f']) {
    const e = { ...base, path, method: 'GE"T' };
    const line = accessLine(e, 7);
    assert.equal(line, pinoLine(e, 7), path);
    assert.equal((JSON.parse(line) as { path: string }).path, path);
  }
});
