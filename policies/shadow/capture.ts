// Copies of response bodies for comparison, never delaying the client: the primary's body is
// teed (each chunk passes on as it arrives, and a copy is kept up to a cap), the shadow's is
// read whole up to the same cap.
import { Readable, Transform, pipeline } from 'node:stream';
import { UpstreamBody } from '../../proxy/exchange.ts';
import type { Reply } from '../../proxy/pipeline.ts';

/** The reply to send on, and the whole body once it has passed (null when over the cap or cut short). */
export function teeReply(reply: Reply, cap: number): { readonly reply: Reply; readonly body: Promise<Buffer | null> } {
  const body = reply.body;
  if (body === null) return { reply, body: Promise.resolve(Buffer.alloc(0)) };
  if (Buffer.isBuffer(body)) return { reply, body: Promise.resolve(body.length <= cap ? body : null) };
  // A forwarded body copied as it arrived (ctx.copyReplyUpTo, set before the primary went out).
  if (body instanceof UpstreamBody && body.copied !== null) return { reply, body: body.copied };
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (!over) {
        size += chunk.length;
        if (size > cap) {
          over = true;
          chunks.length = 0;
        } else {
          chunks.push(chunk);
        }
      }
      done(null, chunk);
    },
  });
  const copied = new Promise<Buffer | null>((resolve) => {
    // pipeline destroys the tap with the upstream's error, which the edge then sees as usual.
    pipeline(body, tap, (err) => resolve(err !== undefined && err !== null || over ? null : Buffer.concat(chunks, size)));
  });
  return { reply: { status: reply.status, headers: reply.headers, body: tap }, body: copied };
}

/** The whole body, or null when it is larger than `cap` (then it is destroyed unread). */
export async function readCapped(body: Reply['body'], cap: number): Promise<Buffer | null> {
  if (body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body.length <= cap ? body : null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as Readable) {
    const c = chunk as Buffer;
    size += c.length;
    if (size > cap) {
      body.destroy();
      return null;
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks, size);
}
