// The proxy's warmup client (proxy/warmup.ts): a child process, so that the warmup reaches the
// data listener from outside as a client's requests do. It gets one plan over its IPC channel,
// answers with the result and exits; it also exits as soon as the channel closes (Outrider gone).
import { runWarmup } from './warmup.ts';
import type { WarmPlan } from './warmup.ts';

process.on('disconnect', () => process.exit(0));
process.once('message', (plan) => {
  void runWarmup(plan as WarmPlan).then((result) => {
    if (process.connected) process.send?.(result, () => process.exit(0));
    else process.exit(0);
  });
});
