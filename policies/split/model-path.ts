// A built-in ONNX runtime serves exactly one model, under its runtime name, and refuses any
// other name in a KServe v2 path (SPEC §4). A route splitting, mirroring or falling back across
// runtimes (`mlp` 90 / `mlp-next` 10, a shadow to `mlp-candidate`) sends the same client path
// to each, so the model segment is rewritten to the runtime's own name, and a `/versions/{v}`
// segment dropped: the route, not the path, picks which model and version answers. Upstreams
// and `process` runtimes (Triton, vLLM, ... serving many models) get the path as sent.

const KSERVE_MODEL = /^\/v2\/models\/[^/?#]+(?:\/versions\/[^/?#]+)?(?=[/?#]|$)/;

/** The upstream path for `url` on a runtime serving the single model `name`. */
export type PathRewrite = (url: string) => string;

export function singleModelPath(name: string): PathRewrite {
  const prefix = `/v2/models/${encodeURIComponent(name)}`;
  return (url) => {
    const m = KSERVE_MODEL.exec(url);
    if (m === null || m[0] === prefix) return url;
    return prefix + url.slice(m[0].length);
  };
}
