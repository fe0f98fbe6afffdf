// Connections that die: reset before any response, reset in the middle of the body, and closed
// without a response. Faults are drawn per request: Outrider keeps a healthy connection alive
// for as long as it is used, so per-connection draws would fault only the few new connections.
import type { Scenario } from '../scenario.ts';
import { PHASE_CRITERIA, runFaultPhases } from './fault-phases.ts';

export const reset: Scenario = {
  name: 'reset-and-drop',
  fault: 'injector RSTs 50% of requests before the head, then RSTs 50% mid-body, then closes the connection of 50% without a response',
  criteria: PHASE_CRITERIA,
  needs: [],
  timeoutMs: 60_000,
  run: (r) => runFaultPhases(r, [
    { fault: { mode: 'reset', at: 'before-head', probability: 0.5 }, label: 'reset-before-head', expect: 'head' },
    { fault: { mode: 'reset', at: 'mid-body', probability: 0.5 }, label: 'reset-mid-body', expect: 'body' },
    { fault: { mode: 'drop', probability: 0.5 }, label: 'drop', expect: 'head' },
  ]),
};
