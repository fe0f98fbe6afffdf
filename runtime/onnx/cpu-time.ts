// The CPU clock a warm batch is timed by (RunResult.cpuSeconds, which `inference: auto` judges).
//
// The worker process's CPU time, not the calling thread's: on Linux getrusage(RUSAGE_THREAD)
// (process.threadCpuUsage) advances in scheduler ticks, 4 ms on the CI VMs, so a 3 ms batch
// read 0 ms about one time in four and the fastest warm run then put a slow model inline.
// RUSAGE_SELF sums each thread's exact runtime. Other threads' work in the same span (the HTTP
// thread parsing warmup requests, GC helpers) can only add to it, which errs toward the thread.

/** Starts a CPU-time span; the returned function gives the seconds of CPU used since. */
export function cpuSpan(): () => number {
  const start = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1e6;
  };
}
