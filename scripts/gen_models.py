#!/usr/bin/python3
"""Generate the bundled example models in examples/models/.

Run with the Debian interpreter (it has onnx and numpy):  /usr/bin/python3 scripts/gen_models.py
Every weight comes from a fixed-seed numpy generator and nothing time- or host-dependent is
written, so two runs produce byte-identical files (`--check` regenerates in memory and compares
with the files on disk).

  mlp.onnx        input  float32 [N,64]  -> logits float32 [N,10]   64-256-256-10, Relu, last bias
                  centred so the classes are used evenly on N(0,1) inputs
  mlp-small.onnx  same I/O, 64-32-10: random Relu features, head least-squares-fitted to mlp's logits
  mlp-next.onnx   mlp's weights plus a perturbation of the last layer, sized so that argmax agrees
                  with mlp on ~94% of random inputs (a believable "next version" for canary/shadow)
  embedder.onnx   input_ids int64 [N,S] -> embeddings float32 [N,128], L2-normalised.
                  Mean of token embeddings over the non-pad positions (pad id 0 is masked out, so
                  right-padding a request inside a batch does not change its embedding), then a
                  128x128 projection with bias, then x / max(||x||, 1e-12). An input made only of
                  pad ids yields the normalised bias: a fixed, unit-norm "empty text" embedding.

The tokenizer constants (vocabulary size, pad id) are read from runtime/onnx/tokenizer.json,
which the worker's tokenizer reads too, so the two cannot drift apart.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17; keeps the files loadable by older runtimes
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "examples", "models")
TOKENIZER_JSON = os.path.join(ROOT, "runtime", "onnx", "tokenizer.json")

IN_DIM = 64
CLASSES = 10
EMBED_DIM = 128
TARGET_AGREEMENT = 0.94
AGREEMENT_SAMPLES = 10_000


def dense_weights(rng, dims):
    """He-initialised weights and small biases for a Relu MLP with the given layer widths."""
    layers = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        w = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = (rng.standard_normal(fan_out) * 0.05).astype(np.float32)
        layers.append((w, b))
    return layers


def mlp_forward(layers, x):
    h = x.astype(np.float32)
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    return h


def build_mlp(name, layers, doc, extra_meta):
    nodes, inits = [], []
    prev = "input"
    for i, (w, b) in enumerate(layers):
        wn, bn = f"fc{i}.weight", f"fc{i}.bias"
        inits += [numpy_helper.from_array(w, wn), numpy_helper.from_array(b, bn)]
        last = i == len(layers) - 1
        out = "logits" if last else f"fc{i}.out"
        nodes.append(helper.make_node("Gemm", [prev, wn, bn], [out], name=f"fc{i}"))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"relu{i}.out"], name=f"relu{i}"))
            out = f"relu{i}.out"
        prev = out
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", IN_DIM])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])],
        initializer=inits,
    )
    meta = {"outrider.task": "classification", "outrider.classes": str(CLASSES), **extra_meta}
    return finish(graph, doc, meta)


def build_embedder(rng, vocab, pad_id):
    table = rng.standard_normal((vocab, EMBED_DIM)).astype(np.float32)
    table[pad_id] = 0.0  # masked anyway; a zero row keeps the table honest for other consumers
    proj = (rng.standard_normal((EMBED_DIM, EMBED_DIM)) / np.sqrt(EMBED_DIM)).astype(np.float32)
    bias = (rng.standard_normal(EMBED_DIM) * 0.1).astype(np.float32)

    c = numpy_helper.from_array
    inits = [
        c(table, "embedding.table"),
        c(proj, "proj.weight"),
        c(bias, "proj.bias"),
        c(np.array(pad_id, dtype=np.int64), "pad_id"),
        c(np.array([2], dtype=np.int64), "axis2"),
        c(np.array([1], dtype=np.int64), "axis1"),
        c(np.array(1.0, dtype=np.float32), "one"),
        c(np.array(1e-12, dtype=np.float32), "eps"),
    ]
    n = helper.make_node
    nodes = [
        n("Gather", ["embedding.table", "input_ids"], ["tok"], axis=0, name="lookup"),     # [N,S,D]
        n("Equal", ["input_ids", "pad_id"], ["is_pad"], name="is_pad"),                 # [N,S]
        n("Not", ["is_pad"], ["not_pad"], name="not_pad"),
        n("Cast", ["not_pad"], ["mask"], to=TensorProto.FLOAT, name="mask"),            # [N,S]
        n("Unsqueeze", ["mask", "axis2"], ["mask3"], name="mask3"),                     # [N,S,1]
        n("Mul", ["tok", "mask3"], ["masked"], name="masked"),
        n("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0, name="sum"),        # [N,D]
        n("ReduceSum", ["mask", "axis1"], ["count"], keepdims=1, name="count"),         # [N,1]
        n("Max", ["count", "one"], ["count1"], name="count_at_least_1"),
        n("Div", ["summed", "count1"], ["mean"], name="mean"),
        n("MatMul", ["mean", "proj.weight"], ["projected"], name="proj"),
        n("Add", ["projected", "proj.bias"], ["biased"], name="proj_bias"),
        n("ReduceL2", ["biased"], ["norm"], axes=[1], keepdims=1, name="norm"),
        n("Max", ["norm", "eps"], ["norm_eps"], name="norm_eps"),
        n("Div", ["biased", "norm_eps"], ["embeddings"], name="normalise"),
    ]
    graph = helper.make_graph(
        nodes,
        "embedder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", EMBED_DIM])],
        initializer=inits,
    )
    doc = (
        "Outrider example text embedder: masked mean of token embeddings (pad id "
        f"{pad_id} ignored), {EMBED_DIM}x{EMBED_DIM} projection with bias, L2-normalised. "
        "Token ids come from Outrider's built-in tokenizer (runtime/onnx/tokenizer.ts)."
    )
    meta = {
        "outrider.task": "embedding",
        "outrider.vocab_size": str(vocab),
        "outrider.pad_id": str(pad_id),
        "outrider.dimensions": str(EMBED_DIM),
    }
    return finish(graph, doc, meta), (table, proj, bias)


def embed_reference(weights, ids, pad_id):
    table, proj, bias = weights
    mask = (ids != pad_id).astype(np.float32)
    mean = (table[ids] * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
    x = mean @ proj + bias
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def finish(graph, doc, meta):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="outrider/scripts/gen_models.py",
        producer_version="1",
        doc_string=doc,
    )
    model.ir_version = IR_VERSION
    for k in sorted(meta):
        entry = model.metadata_props.add()
        entry.key, entry.value = k, meta[k]
    onnx.checker.check_model(model, full_check=True)
    return model


def penultimate(layers, x):
    """Activations entering the last layer. The hidden layers never change below, and this
    is where the time goes (numpy's BLAS here is slow), so callers compute it once and apply
    `last_layer`, which gives the same bits as mlp_forward."""
    return np.maximum(mlp_forward(layers[:-1], x), 0)


def last_layer(layer, hidden):
    w, b = layer
    return hidden @ w + b


def centre_logits(layers, hidden):
    """Shift the last bias so every class has mean logit 0 on N(0,1) inputs: random weights
    otherwise send most inputs to one or two classes, which makes argmax comparisons dull."""
    w, b = layers[-1]
    shift = last_layer(layers[-1], hidden).mean(0)
    return layers[:-1] + [(w, (b - shift).astype(np.float32))]


def distil_small(rng, teacher_logits, x, hidden):
    """A random Relu feature layer plus a least-squares output layer fitted to the teacher's
    logits: a cheap model that mostly agrees with mlp, as a fallback should."""
    w1 = (rng.standard_normal((IN_DIM, hidden)) * np.sqrt(2.0 / IN_DIM)).astype(np.float32)
    b1 = (rng.standard_normal(hidden) * 0.05).astype(np.float32)
    h = np.maximum(x @ w1 + b1, 0).astype(np.float64)
    design = np.concatenate([h, np.ones((len(h), 1))], axis=1)
    coef, *_ = np.linalg.lstsq(design, teacher_logits.astype(np.float64), rcond=None)
    return [(w1, b1), (coef[:-1].astype(np.float32), coef[-1].astype(np.float32))]


def perturb_for_agreement(base, rng, hidden, target):
    """Noise on the last layer, scaled by bisection so argmax agreement with `base` is ~target."""
    ref = last_layer(base[-1], hidden).argmax(1)
    w_noise = rng.standard_normal(base[-1][0].shape).astype(np.float32)
    b_noise = rng.standard_normal(base[-1][1].shape).astype(np.float32)

    def last(scale):
        w, b = base[-1]
        return (w + scale * w_noise).astype(np.float32), (b + scale * b_noise).astype(np.float32)

    def candidate(scale):
        return base[:-1] + [last(scale)]

    def agreement(scale):
        w, b = last(scale)
        return float(((hidden @ w + b).argmax(1) == ref).mean())

    lo, hi = 0.0, 1.0
    while agreement(hi) > target:
        hi *= 2
    for _ in range(30):
        mid = (lo + hi) / 2
        if agreement(mid) > target:
            lo = mid
        else:
            hi = mid
    return candidate(hi), agreement(hi), hi


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=OUT_DIR, help="output directory (default: examples/models)")
    parser.add_argument("--check", action="store_true", help="generate in memory and fail unless the bytes match the files on disk (written by an earlier run)")
    args = parser.parse_args()

    with open(TOKENIZER_JSON, encoding="utf-8") as f:
        tok = json.load(f)
    vocab, pad_id = int(tok["vocabSize"]), int(tok["padId"])

    models, report = build_all(vocab, pad_id)
    if args.check:
        # The files on disk came from an earlier run: matching them is the determinism check.
        differ = [n for n in models if not same_file(os.path.join(args.out, n), models[n])]
        if differ:
            print(f"generated bytes differ from the files on disk: {', '.join(differ)}", file=sys.stderr)
            return 1
        print("ok: generation is deterministic and matches the files on disk")
        return 0

    os.makedirs(args.out, exist_ok=True)
    for name, data in models.items():
        path = os.path.join(args.out, name)
        with open(path, "wb") as f:
            f.write(data)
        print(f"{name:16s} {len(data):>9,d} bytes  sha256 {hashlib.sha256(data).hexdigest()[:16]}")
    for line in report:
        print(line)
    return 0


def same_file(path, data):
    try:
        with open(path, "rb") as f:
            return f.read() == data
    except FileNotFoundError:
        return False


def build_all(vocab, pad_id):
    report = []
    rng = np.random.default_rng(20240601)
    calibration = np.random.default_rng(5).standard_normal((AGREEMENT_SAMPLES, IN_DIM)).astype(np.float32)
    raw = dense_weights(rng, [IN_DIM, 256, 256, CLASSES])
    cal_hidden = penultimate(raw, calibration)
    mlp = centre_logits(raw, cal_hidden)
    small = distil_small(rng, last_layer(mlp[-1], cal_hidden), calibration, 32)

    probe = np.random.default_rng(7).standard_normal((AGREEMENT_SAMPLES, IN_DIM)).astype(np.float32)
    probe_hidden = penultimate(mlp, probe)
    probe_argmax = last_layer(mlp[-1], probe_hidden).argmax(1)
    nxt, agree, scale = perturb_for_agreement(mlp, np.random.default_rng(11), probe_hidden, TARGET_AGREEMENT)
    classes = np.bincount(probe_argmax, minlength=CLASSES)
    report.append(f"mlp argmax class counts on {AGREEMENT_SAMPLES} N(0,1) inputs: {classes.tolist()}")
    report.append(f"mlp-next vs mlp argmax agreement on {AGREEMENT_SAMPLES} N(0,1) inputs: {agree:.2%} (last-layer noise scale {scale:.4f})")
    small_agree = float((mlp_forward(small, probe).argmax(1) == probe_argmax).mean())
    report.append(f"mlp-small vs mlp argmax agreement: {small_agree:.2%} (distilled: random features, least-squares head)")

    emb_model, emb_weights = build_embedder(np.random.default_rng(4096), vocab, pad_id)
    ids = np.random.default_rng(3).integers(1, vocab, size=(4, 9))
    padded = np.concatenate([ids, np.full((4, 5), pad_id)], axis=1)
    drift = float(np.abs(embed_reference(emb_weights, ids, pad_id) - embed_reference(emb_weights, padded, pad_id)).max())
    report.append(f"embedder: vocab {vocab}, dim {EMBED_DIM}; padding changes the reference embedding by at most {drift:.1e}")

    models = {
        "mlp.onnx": build_mlp("mlp", mlp, "Outrider example classifier: 64-256-256-10 MLP with Relu, random fixed-seed weights.", {"outrider.version": "1"}),
        "mlp-small.onnx": build_mlp("mlp-small", small, "Outrider example classifier, small: 64-32-10 MLP with Relu, head fitted to mlp's logits (a cheap fallback for mlp).", {"outrider.version": "1"}),
        "mlp-next.onnx": build_mlp(
            "mlp-next",
            nxt,
            f"Outrider example classifier, next version of mlp: same weights with a perturbed last layer; argmax agrees with mlp on {agree:.1%} of N(0,1) inputs.",
            {"outrider.version": "2", "outrider.argmax_agreement_with_mlp": f"{agree:.4f}"},
        ),
        "embedder.onnx": emb_model,
    }
    return {name: m.SerializeToString() for name, m in models.items()}, report


if __name__ == "__main__":
    sys.exit(main())
