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

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IN_DIM = 64
CLASSES = 10
OPSET = 17
IR_VERSION = 8  # as scripts/gen_models.py: the IR version that goes with opset 17


def build(hidden):
    rng = np.random.default_rng(20261123)
    dims = [IN_DIM, *hidden, CLASSES]
    nodes, inits = [], []
    prev = "input"
    for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:])):
        # float32 straight from the generator: a float64 draw of the widest layers would need
        # twice the memory for nothing.
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        b = (rng.standard_normal(fan_out, dtype=np.float32) * np.float32(0.05))
        wn, bn = f"fc{i}.weight", f"fc{i}.bias"
        inits += [numpy_helper.from_array(w, wn), numpy_helper.from_array(b, bn)]
        last = i == len(dims) - 2
        out = "logits" if last else f"fc{i}.out"
        nodes.append(helper.make_node("Gemm", [prev, wn, bn], [out], name=f"fc{i}"))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"relu{i}.out"], name=f"relu{i}"))
            out = f"relu{i}.out"
        prev = out
    graph = helper.make_graph(
        nodes,
        "wide_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", IN_DIM])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="outrider/bench/runtime/wide_mlp.py",
        doc_string=f"Outrider batching benchmark model: {'-'.join(map(str, dims))} Relu MLP (memory-bound at batch 1)",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
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
