// Weighted rendezvous hashing (Schindelhauer & Schomaker, "Weighted distributed hash tables",
// 2005, in its logarithmic form): each backend scores a key with u = hash(key, backend) in (0,1)
// as -ln(u)/w, and the lowest score wins. Each backend then gets its weight's share of the keys,
// and when a weight changes (or a backend leaves) only the keys that must move move: a key's
// winner changes only if its own backend lost weight or another gained it.
//
// The hash is MurmurHash3's mixing over UTF-16 code units, in two independently seeded 32-bit
// lanes giving 53 bits of u. A cryptographic hash would do as well but costs ~4 µs per backend
// per request; this costs tens of nanoseconds.

/** A key's two hash lanes, computed once per request. */
export interface KeyHash {
  readonly a: number;
  readonly b: number;
}

const LANE_A = 0x9747b28c;
const LANE_B = 0x5bd1e995;

export function hashKey(key: string): KeyHash {
  return { a: murmur(key, LANE_A), b: murmur(key, LANE_B) };
}

/** A backend's seeds, computed once per route build. */
export function backendSeed(name: string): KeyHash {
  return { a: murmur(name, LANE_B ^ 0x2545f491), b: murmur(name, LANE_A ^ 0x68e31da4) };
}

/** The backend's score for the key; the lowest wins. `weight` must be > 0. */
export function score(key: KeyHash, seed: KeyHash, weight: number): number {
  const hi = fmix32((key.a ^ seed.a) >>> 0);
  const lo = fmix32((key.b ^ seed.b ^ hi) >>> 0) >>> 11;
  // (0, 1): never 0, so the log is finite.
  const u = (hi * 2097152 + lo + 0.5) / 9007199254740992;
  return -Math.log(u) / weight;
}

function murmur(s: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    let k = Math.imul(s.charCodeAt(i), 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  return fmix32((h ^ s.length) >>> 0);
}

/** MurmurHash3's finaliser: every input bit affects every output bit. */
function fmix32(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
