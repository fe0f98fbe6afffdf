// What every bench child server shares: how it reports its port and how it goes away.
import type { Server } from 'node:net';

/** The orchestrator waits for this one JSON line on stdout (see processes.ts waitForJsonLine). */
export function announcePort(server: Server): void {
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('expected a TCP listener');
  process.stdout.write(`${JSON.stringify({ port: addr.port })}\n`);
}

export function exitOnSignals(): void {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => process.exit(0));
}

/** The upstream origin a forwarder child is started with: `node <forwarder>.ts http://127.0.0.1:PORT`. */
export function originArg(): string {
  const arg = process.argv[2];
  if (arg === undefined) throw new Error('usage: <forwarder>.ts http://HOST:PORT');
  const url = new URL(arg);
  if (url.protocol !== 'http:') throw new Error(`expected an http:// origin, got ${arg}`);
  return url.origin;
}
