// Reading a reply's body for the store, never past the per-entry limit: a body that turns out
// larger is handed on as a stream (what was read first, then the rest), so the client still
// gets all of it and memory stays bounded.
import { PassThrough, Readable, pipeline } from 'node:stream';
import { OutriderError } from '../../proxy/errors.ts';
import type { Reply } from '../../proxy/pipeline.ts';

export type Collected =
  | { readonly kind: 'whole'; readonly chunks: readonly Buffer[]; readonly size: number }
  | { readonly kind: 'too-large'; readonly body: Readable | null };

export async function collectBody(reply: Reply, limit: number, signal: AbortSignal): Promise<Collected> {
  const body = reply.body;
  if (body === null) return { kind: 'whole', chunks: [], size: 0 };
  if (Buffer.isBuffer(body)) return body.length > limit ? { kind: 'too-large', body: Readable.from([body]) } : { kind: 'whole', chunks: [body], size: body.length };
  if (declaredLength(reply.headers) > limit) return { kind: 'too-large', body };
  const read = await readUpTo(body, limit, signal);
  if (read.ended) return { kind: 'whole', chunks: read.chunks, size: read.size };
  const rest = new PassThrough();
  for (const c of read.chunks) rest.write(c);
  // pipeline: an upstream failure cuts the client's response short; a client gone stops the upstream.
  pipeline(body, rest, () => undefined);
  return { kind: 'too-large', body: rest };
}

function declaredLength(headers: readonly string[]): number {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === 'content-length') return Number(headers[i + 1]);
  }
  return -1;
}

function readUpTo(src: Readable, limit: number, signal: AbortSignal): Promise<{ chunks: Buffer[]; size: number; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      src.off('data', onData);
      src.off('end', onEnd);
      src.off('error', onError);
      src.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size > limit) {
        src.pause();
        done();
        resolve({ chunks, size, ended: false });
      }
    };
    const onEnd = () => { done(); resolve({ chunks, size, ended: true }); };
    const onError = (e: Error) => {
      done();
      reject(signal.aborted ? signal.reason : new OutriderError('bad_gateway', 'the backend failed mid-response', { detail: 'reset', cause: e }));
    };
    const onClose = () => {
      // 'close' without 'end': the body was destroyed (client gone, deadline).
      done();
      reject(signal.aborted ? signal.reason : new OutriderError('bad_gateway', 'the backend closed the response early', { detail: 'reset' }));
    };
    const onAbort = () => {
      done();
      src.destroy();
      reject(signal.reason);
    };
    if (signal.aborted) { onAbort(); return; }
    src.on('data', onData);
    src.once('end', onEnd);
    src.once('error', onError);
    src.once('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
