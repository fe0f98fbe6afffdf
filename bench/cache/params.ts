// What the bench's loopback backend costs, shared by the backend and the orchestrator (which
// must not import the backend module itself: importing it would start a server).

/** Delay of POST /slow: long enough for 100 concurrent requests to overlap. */
export const SLOW_MS = 50;
/** CPU per embedding item: a model's compute, held rather than slept. */
export const ITEM_COST_MS = 2;
export const DIMENSIONS = 128;
