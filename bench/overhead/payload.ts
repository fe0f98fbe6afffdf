// The one request every target serves: a 1 KiB Open Inference Protocol (KServe v2) body, POSTed
// to an inference path, answered by the upstream with a small fixed JSON body.

export const INFER_PATH = '/v2/models/bench/infer';
export const REQUEST_BYTES = 1024;

export const RESPONSE_BODY = Buffer.from(
  '{"model_name":"bench","outputs":[{"name":"y","shape":[1,2],"datatype":"FP32","data":[0.25,0.75]}]}',
);

/** A valid v2 infer body with as many FP32 values as fit, padded with JSON whitespace to exactly 1 KiB. */
export const REQUEST_BODY: Buffer = buildRequestBody(REQUEST_BYTES);

function buildRequestBody(size: number): Buffer {
  let n = 1;
  let text = inferBody(n);
  while (inferBody(n + 1).length <= size) text = inferBody(++n);
  return Buffer.from(text.padEnd(size, ' '));
}

function inferBody(n: number): string {
  return JSON.stringify({ inputs: [{ name: 'x', shape: [1, n], datatype: 'FP32', data: new Array<number>(n).fill(0.5) }] });
}
