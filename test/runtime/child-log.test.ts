import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toLogRecord } from '../../runtime/child-log.ts';

test('plain output lines are info records with the line as message', () => {
  assert.deepEqual(toLogRecord('Traceback (most recent call last):'), { level: 'info', fields: {}, msg: 'Traceback (most recent call last):' });
  assert.deepEqual(toLogRecord('{not json}'), { level: 'info', fields: {}, msg: '{not json}' });
  assert.deepEqual(toLogRecord('[1,2]'), { level: 'info', fields: {}, msg: '[1,2]' });
});

test('pino JSON lines keep their level and fields; the child pid is not passed off as ours', () => {
  const line = JSON.stringify({ level: 40, time: 1, pid: 4242, hostname: 'h', component: 'onnx-worker', queued: 3, msg: 'draining' });
  assert.deepEqual(toLogRecord(line), { level: 'warn', fields: { component: 'onnx-worker', queued: 3, childPid: 4242 }, msg: 'draining' });
  assert.equal(toLogRecord(JSON.stringify({ level: 60, msg: 'fatal' })).level, 'error');
  assert.equal(toLogRecord(JSON.stringify({ level: 20, msg: 'x' })).level, 'debug');
  assert.equal(toLogRecord(JSON.stringify({ level: 'warn', msg: 'x' })).level, 'warn');
  assert.deepEqual(toLogRecord('{"event":"loaded"}'), { level: 'info', fields: { event: 'loaded' }, msg: '' });
});
