#!/usr/bin/env bash
# Trains with the same seed on CUDA and on the CPU and prints accuracy and time for both.
#
#   scripts/gpu-check.sh [BINARY] [DATA_DIR]     (defaults: target/cuda/trainer-cuda, data/mnist)
#
# For a GPU machine without a Rust toolchain: copy the stripped binary and data/mnist there.
# The CUDA 13 libraries are taken from LD_LIBRARY_PATH, else from a PyTorch (cu130) install.
set -euo pipefail
binary=${1:-target/cuda/trainer-cuda}
data=${2:-data/mnist}
out=$(mktemp -d)

if ldd "$binary" | grep -q "not found"; then
  libs=$(python3 - <<'PY' 2>/dev/null || true
import glob, os, site
dirs = []
for root in site.getsitepackages():
    dirs += glob.glob(os.path.join(root, "nvidia", "*", "lib")) + glob.glob(os.path.join(root, "torch", "lib"))
print(":".join(dirs))
PY
)
  export LD_LIBRARY_PATH=${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true

for device in cuda cpu; do
  start=$(date +%s.%N)
  "$binary" train --device "$device" --seed 0 --data-dir "$data" --out-dir "$out/$device" -q > "$out/$device.log"
  end=$(date +%s.%N)
  wall=$(awk "BEGIN { printf \"%.2f\", $end - $start }")
  printf '%-5s %s  wall %s s\n' "$device" "$(grep -h 'float test accuracy' "$out/$device.log" | xargs)" "$wall"
  grep -h 'Trained on' "$out/$device.log"
done
