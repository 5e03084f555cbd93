#!/usr/bin/env bash
# Every number in BENCHMARKS.md, in one run: host inference (criterion, one core), Cortex-M4
# instructions, stack and flash (QEMU, llvm tools), and training wall time (hyperfine).
# Needs: qemu-system-arm, the thumbv7em-none-eabihf target, llvm-tools, hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== machine"
uname -m; nproc; grep -m1 "model name" /proc/cpuinfo || true; rustc --version

echo "== host inference (one core)"
RAYON_NUM_THREADS=1 taskset -c 0 cargo bench -p trainer --bench inference 2>&1 |
  grep -E "^(one|10k)|time:" | grep -v "%" | paste - - | sed 's/ \+/ /g'

echo "== Cortex-M4 (QEMU mps2-an386, -icount shift=0)"
(cd firmware-example && cargo run --release 2>/dev/null | grep -vE "^image")
scripts/firmware-size.py

echo "== training (bundled data, release build, 2 cores)"
cargo build --release -p trainer 2>/dev/null
out=$(mktemp -d)
hyperfine -N --warmup 1 --runs 5 \
  "target/release/trainer train -q --out-dir $out/a" \
  "target/release/trainer train -q --preset tutorial --out-dir $out/b"
RAYON_NUM_THREADS=1 hyperfine -N --warmup 1 --runs 5 \
  "target/release/trainer train -q --out-dir $out/a" \
  "target/release/trainer train -q --preset tutorial --out-dir $out/b"
echo "== time to accuracy (default preset, RAYON_NUM_THREADS=1)"
RAYON_NUM_THREADS=1 target/release/trainer train --out-dir "$out/a" 2>/dev/null
