import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseSize } from '../../../proxy/config/units.ts';

test('durations: ms, s, m, h and fractions', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('2s'), 2_000);
  assert.equal(parseDuration('1.5s'), 1_500);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('24h'), 86_400_000);
  assert.equal(parseDuration('0s'), 0);
});

test('durations: anything else is refused with an example of the form', () => {
  for (const bad of ['2', '2 s', '-1s', 's', '1.s', '1d', '2S', '']) {
    assert.throws(() => parseDuration(bad), { message: `expected a duration such as "250ms" or "2s", got ${JSON.stringify(bad)}` });
  }
  assert.throws(() => parseDuration(250), { message: 'expected a duration such as "250ms" or "2s", got number' });
  assert.throws(() => parseDuration(null), /got null$/);
});

test('sizes: IEC and SI units, byte counts', () => {
  assert.equal(parseSize('512KiB'), 512 * 1024);
  assert.equal(parseSize('64MiB'), 64 * 1024 * 1024);
  assert.equal(parseSize('1GiB'), 2 ** 30);
  assert.equal(parseSize('16KB'), 16_000);
  assert.equal(parseSize('16kB'), 16_000);
  assert.equal(parseSize('2MB'), 2_000_000);
  assert.equal(parseSize('100B'), 100);
  assert.equal(parseSize('1.5KiB'), 1536);
  assert.equal(parseSize('4096'), 4096);
  assert.equal(parseSize(4096), 4096);
  assert.equal(parseSize(0), 0);
});

test('sizes: negative, fractional byte counts and unknown units are refused', () => {
  for (const bad of [-1, 1.5, Number.NaN]) assert.throws(() => parseSize(bad), /^RangeError: expected a size such as "512KiB", "64MiB" or a byte count/);
  for (const bad of ['1 KiB', '1kib', '1PB', 'KiB', '']) assert.throws(() => parseSize(bad), { message: `expected a size such as "512KiB", "64MiB" or a byte count, got ${JSON.stringify(bad)}` });
  assert.throws(() => parseSize(true), /got boolean$/);
});
