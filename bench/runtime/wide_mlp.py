#!/usr/bin/python3
"""Write the batching benchmark's memory-bound model: a wide Relu MLP with mlp's I/O.

  /usr/bin/python3 bench/runtime/wide_mlp.py --out FILE [--hidden 2048,4096,2048]

input float32 [N,64] -> logits float32 [N,10], through the given hidden widths. At batch 1 each
Gemm is a matrix-vector product: two flops per 4-byte weight read, so the call's time is the
time to stream the weights through the core. A batch of N reads the same weights once for N
rows, which is the effect dynamic batching exists to harvest. Fixed seed: the same arguments
give the same bytes. Run with the Debian interpreter, which has onnx and numpy.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx

# The graph itself is the bundled models' (scripts/gen_models.py): only the widths and the
# weights' scale differ, so a change to how models are written reaches both.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from gen_models import CLASSES, IN_DIM, build_mlp  # noqa: E402


def build(hidden):
    rng = np.random.default_rng(20261123)
    dims = [IN_DIM, *hidden, CLASSES]
    layers = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        # float32 straight from the generator: a float64 draw of the widest layers would need
        # twice the memory for nothing.
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        b = rng.standard_normal(fan_out, dtype=np.float32) * np.float32(0.05)
        layers.append((w, b))
    doc = f"Outrider batching benchmark model: {'-'.join(map(str, dims))} Relu MLP (memory-bound at batch 1)"
    model = build_mlp("wide_mlp", layers, doc, {"outrider.bench": "batching"})
    return model, sum(a * b for a, b in zip(dims[:-1], dims[1:]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--hidden", default="2048,4096,2048", help="comma-separated hidden layer widths")
    args = p.parse_args()
    try:
        hidden = [int(x) for x in args.hidden.split(",")]
    except ValueError:
        sys.exit(f"--hidden must be comma-separated whole numbers, got {args.hidden!r}")
    if not hidden or any(h < 1 for h in hidden):
        sys.exit(f"--hidden needs at least one width >= 1, got {args.hidden!r}")
    model, weights = build(hidden)
    onnx.save(model, args.out)
    print(json.dumps({"file": args.out, "weights": weights, "weightBytes": weights * 4}))


if __name__ == "__main__":
    main()
