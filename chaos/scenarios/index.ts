// Every scenario, in the order `npm run chaos` runs them: the network faults first, then the
// process faults, then the ones that exercise the resilience policies (retry, breaker, fallback).
import type { Scenario } from '../scenario.ts';
import { burst, retryBudget } from './burst.ts';
import { crashLoop } from './crash-loop.ts';
import { malformed } from './malformed.ts';
import { overload } from './overload.ts';
import { reload } from './reload.ts';
import { reset } from './reset.ts';
import { onnxSigkill, sigkill, sigkillRetry } from './sigkill.ts';
import { sigstop } from './sigstop.ts';
import { sigterm } from './sigterm.ts';
import { slowStart } from './slow-start.ts';
import { stall } from './stall.ts';

export const SCENARIOS: readonly Scenario[] = [
  malformed,
  reset,
  stall,
  reload,
  sigterm,
  overload,
  sigkill,
  slowStart,
  crashLoop,
  sigkillRetry,
  onnxSigkill,
  sigstop,
  burst,
  retryBudget,
];
