// Request bodies: KServe v2 infer requests for models with mlp's input (`input`, FP32 [N,64]).
const WIDTH = 64;

/** A valid infer body of `rows` rows; values are deterministic so every run sends the same bytes. */
export function inferBody(rows: number): Buffer {
  const data = new Array<number>(rows * WIDTH);
  let state = 0x2545f491;
  for (let k = 0; k < data.length; k++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    // Three decimals keep the JSON short, as a client serialising real features would.
    data[k] = Math.round(((state / 2 ** 32) * 2 - 1) * 1000) / 1000;
  }
  return Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [rows, WIDTH], datatype: 'FP32', data }] }));
}
