// The V8 heap sizing Outrider is launched with: `npm start` (package.json) and the image's
// ENTRYPOINT (Dockerfile) pass these to node; test/heap-flags.test.ts keeps the three in step.
//
// Under a flood of unique cache keys, entries outlive young-generation GCs and die in the old
// generation; with Node's defaults V8 lets that garbage reach several times the live heap before
// a mark-compact, so a 32 MiB store grew RSS by +355 MiB over idle for 1 million keys. A 4 MiB
// semi-space and a 1.25x heap growing factor keep it at +80 MiB (bar: cache.maxBytes + 64 MiB)
// with the proxy's throughput unchanged (bench: 0.43x direct, 99 µs CPU per request, against
// 0.40x / 106 µs in a run without them); `--optimize-for-size` held RSS too (+54 MiB) but cost
// 75% more CPU per request (185 µs, 0.24x direct). Measured 2026-12-07, see docs/cache.md.
// Both flags must be given at process start: set later, the semi-space size is ignored.
export const HEAP_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=4', '--heap-growing-percent=25']);
