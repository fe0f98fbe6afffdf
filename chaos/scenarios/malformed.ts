// Malformed upstream responses, one kind per phase, on half the requests: a garbage status
// line, broken chunked framing, and content-length that disagrees with the body either way.
import type { Scenario } from '../scenario.ts';
import { PHASE_CRITERIA, runFaultPhases } from './fault-phases.ts';

export const malformed: Scenario = {
  name: 'malformed-responses',
  fault: 'injector answers 50% of requests with a garbage status line, then bad chunked encoding, then content-length too large, then too small',
  criteria: PHASE_CRITERIA,
  needs: [],
  timeoutMs: 60_000,
  run: (r) => runFaultPhases(r, [
    { fault: { mode: 'malformed', kind: 'status-line', probability: 0.5 }, label: 'malformed-status-line', expect: 'head' },
    { fault: { mode: 'malformed', kind: 'chunked', probability: 0.5 }, label: 'malformed-chunked', expect: 'body' },
    { fault: { mode: 'malformed', kind: 'length-short', probability: 0.5 }, label: 'malformed-length-short', expect: 'body' },
    { fault: { mode: 'malformed', kind: 'length-long', probability: 0.5 }, label: 'malformed-length-long', expect: 'declared' },
  ]),
};
