#!/usr/bin/env bash
# Run from the repository root on a GPU machine that has Python with a CUDA PyTorch, aiohttp and
# numpy, but no Node: unpacks .device/bundle.tar.xz (made by bundle.sh), then checks the GPU
# paths and writes what it saw under $OUT (default .device/out):
#   1. nvidia-smi and torch's view of the GPUs;
#   2. npm run bench:gpu on that GPU with server.py --device cuda (cold start, pinning, outputs
#      vs CPU, overhead vs direct, recovery after SIGKILL, clean stop, a reload of two replicas
#      under load, a replica pinned to a missing GPU), sampling nvidia-smi's compute apps;
#   3. test/runtime/gpu-example.test.ts with the GPU visible;
#   4. an ONNX runtime with `device: cuda` (cpuFallback false, then true) to record what a
#      user sees when onnxruntime-node has no CUDA execution provider installed.
set -uo pipefail
OUT=${OUT:-.device/out}
mkdir -p "$OUT"
n=${NODE_BUNDLE_DIR:-/tmp/outrider-node}
if [ ! -x "$n/node/bin/node" ]; then
  mkdir -p "$n"
  tar -C "$n" -xJf .device/bundle.tar.xz 2>/dev/null \
    || /usr/bin/env python3 -c 'import sys,tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' .device/bundle.tar.xz "$n"
fi
[ -e node_modules ] || ln -s "$n/node_modules" node_modules
export PATH="$n/node/bin:$PATH"
PY=${OUTRIDER_PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3 python3.12 /usr/bin/python3 python; do
    if command -v "$c" >/dev/null && "$c" -c 'import torch, aiohttp, numpy' 2>/dev/null; then PY=$(command -v "$c"); break; fi
  done
fi
export OUTRIDER_PYTHON=$PY
step() { echo; echo "=== $* ($(date +%T))"; }

step "machine"
node --version
nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv
"$PY" -c 'import torch, sys; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), "count", torch.cuda.device_count())'

step "bench:gpu on GPU 0 (--torch-device cuda)"
( while sleep 1; do nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader; done ) > "$OUT/compute-apps.txt" 2>&1 &
sampler=$!
timeout 300 node bench/gpu/run.ts --python "$PY" --gpu 0 --torch-device cuda --duration "${DURATION:-5}" --out "$OUT/gpu.json"
echo "bench:gpu exit $?"
kill "$sampler"
echo "GPU compute apps seen while it ran (pid, name, memory):"; sort -u "$OUT/compute-apps.txt" | head -20
echo "left on the GPU now:"; nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader

step "test/runtime/gpu-example.test.ts with the GPU visible"
timeout 150 node --test --test-reporter=spec test/runtime/gpu-example.test.ts 2>&1 | tail -25

step "onnx runtime, device: cuda"
for fallback in false true; do
  cfg="$OUT/onnx-cuda-$fallback.yaml"
  cat > "$cfg" <<YAML
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
runtimes:
  - name: mlp
    kind: onnx
    model: $PWD/examples/models/mlp.onnx
    device: cuda:0
    cpuFallback: $fallback
routes:
  - name: mlp
    match: { path: /v2/models/mlp/, prefix: true }
    backends: [ { to: mlp } ]
YAML
  timeout 8 node proxy/cli.ts run -c "$cfg" > "$OUT/onnx-cuda-$fallback.log" 2>&1
  echo "cpuFallback: $fallback -> outrider exit $? (124: still up after 8 s; the log says whether it served or crash-looped)"
  grep -o '"fatal":"[^"]*"\|"msg":"CUDA[^"]*"\|"msg":"ready"' "$OUT/onnx-cuda-$fallback.log" | sort | uniq -c | head -4
done
