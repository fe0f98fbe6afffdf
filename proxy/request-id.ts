// SPEC §3: keep a valid, trusted incoming id (1-128 chars of [A-Za-z0-9._:-]); otherwise mint one.
import { randomBytes } from 'node:crypto';

const VALID = /^[A-Za-z0-9._:-]{1,128}$/;

// A per-process random prefix plus a counter: unique, cheap, and never reflects client input.
const prefix = randomBytes(6).toString('hex');
let counter = 0;

export function newRequestId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${prefix}-${counter.toString(36)}`;
}

export function acceptRequestId(incoming: string | string[] | undefined, trust: boolean): string {
  if (trust && typeof incoming === 'string' && VALID.test(incoming)) return incoming;
  return newRequestId();
}
