// One real request through a target before it is measured: a proxy that answers the wrong thing
// fast must not win the benchmark.
import { request } from 'undici';
import { INFER_PATH, REQUEST_BODY, RESPONSE_BODY } from './payload.ts';
import type { Child } from './processes.ts';

export function targetUrl(origin: string): string {
  return origin + INFER_PATH;
}

/** Throws unless `url` answers the bench POST with 200 and the upstream's exact body. */
export async function probe(url: string): Promise<void> {
  const res = await request(url, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: REQUEST_BODY,
    headersTimeout: 5_000, bodyTimeout: 5_000,
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  if (res.statusCode !== 200 || !body.equals(RESPONSE_BODY)) {
    throw new Error(`${url} answered ${res.statusCode} ${body.toString('utf8').slice(0, 300)}; expected 200 ${RESPONSE_BODY.toString('utf8')}`);
  }
}

/** Polls probe() until it passes: for servers that print nothing when ready (nginx). */
export async function waitUntilServing(url: string, child: Child, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (!child.running) throw new Error(child.describeExit());
    try {
      await probe(url);
      return;
    } catch (e) {
      if (performance.now() > deadline) throw new Error(`${child.name} did not serve ${url} within ${timeoutMs} ms: ${(e as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
