#!/usr/bin/env bash
# Packs what a GPU machine without Node or a registry needs to run Outrider from this checkout:
# the pinned Node 24 binary (stripped) and the production node_modules, linux-x64 parts only,
# as .device/bundle.tar.xz (~45 MB; .device/ is git-ignored). device-check.sh unpacks it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$root/package.json" "$root/package-lock.json" "$root/.npmrc" "$work/"
(cd "$work" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
# onnxruntime-node ships every platform's binaries; the GPU machine is linux-x64.
for d in "$work"/node_modules/onnxruntime-node/bin/napi-v*; do
  find "$d" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
  find "$d/linux" -mindepth 1 -maxdepth 1 ! -name x64 -exec rm -rf {} +
done
mkdir -p "$work/node/bin" "$root/.device"
cp "$(readlink -f "$root/node_modules/.bin/node")" "$work/node/bin/node"
strip "$work/node/bin/node"
tar -C "$work" -cJf "$root/.device/bundle.tar.xz" node node_modules
ls -l "$root/.device/bundle.tar.xz"
