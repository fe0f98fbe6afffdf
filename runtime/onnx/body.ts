// Reads a request body as JSON within a byte limit, refusing early (Content-Length) or as soon
// as the streamed bytes pass the limit, so an oversized body is never held in memory. The rest
// of a refused body is discarded; the caller answers 413 with `connection: close`.
import type { IncomingMessage } from 'node:http';
import { OutriderError } from '../../proxy/errors.ts';

function readRaw(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new OutriderError('body_too_large', `request body is larger than ${limit} bytes`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (err: Error | null) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err === null) {
        resolve(Buffer.concat(chunks, size));
      } else {
        req.resume();
        reject(err);
      }
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) finish(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => finish(null);
    const onError = (e: Error) => finish(e);
    const onClose = () => { if (!req.complete) finish(new OutriderError('invalid_request', 'request body was cut short')); };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const text = (await readRaw(req, limit)).toString('utf8');
  if (text.trim() === '') throw new OutriderError('invalid_request', 'request body is empty; expected JSON');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new OutriderError('invalid_request', `malformed JSON: ${(e as Error).message}`);
  }
}
