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

test('numbers print as JSON.stringify prints them, rounded durations and odd ones alike', () => {
  const values = [0, 1, 7, 0.001, 0.01, 0.1, 0.5, 0.05, 0.105, 1.2, 12.345, 12.34, 999.999, 1000, 86_400_000.001, 1e-7, 123.4567, -2.5, 2 ** 40 + 0.5];
  for (let i = 0; i < 2_000; i++) values.push(Math.round(Math.random() * 10 ** (1 + (i % 9))) / 1000, Math.random() * 100);
  for (const v of values) {
    const e: AccessEntry = { ...base, durationMs: v, headMs: v, upstreamMs: v, bytesIn: Math.floor(Math.abs(v)) };
    assert.equal(accessLine(e, 1), pinoLine(e, 1), String(v));
  }
});
