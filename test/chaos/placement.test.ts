// The chaos runner pins to CPUs the process may use, which need not be 0 and 1 in a cpuset.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allowedCpus } from '../../bench/cpus.ts';

test('Cpus_allowed_list ranges and lists are read in order', () => {
  assert.deepEqual(allowedCpus('Name:\tnode\nCpus_allowed_list:\t2-3,6\nMems_allowed_list:\t0\n'), [2, 3, 6]);
  assert.deepEqual(allowedCpus('Cpus_allowed_list:\t5\n'), [5]);
  assert.deepEqual(allowedCpus('no such line'), []);
  assert.deepEqual(allowedCpus('Cpus_allowed_list:\tgarbage\n'), []);
});

test('this process can run on at least one CPU it reads', () => {
  assert.ok(allowedCpus().length >= 1);
});
