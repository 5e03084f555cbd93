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

echo "== Cortex-M4, flashed blobs: f32, and a signed int8 on the firmware built with feature signed"
cargo build --release -p trainer 2>/dev/null
blobs=$(mktemp -d)
target/release/trainer keygen --out "$blobs/bench.pem" >/dev/null
target/release/trainer export tests/fixtures/model.safetensors --out-dir "$blobs" -q \
  --signing-key "$blobs/bench.pem" --counter 3
runner=$(sed -n 's/^runner = "\(.*\)"$/\1/p' firmware-example/.cargo/config.toml)
elf=firmware-example/target/thumbv7em-none-eabihf/release/firmware-example
flash() { $runner "$1" -device "loader,file=$2,addr=0x003F0000,force-raw=on" | grep -vE "^image"; }
flash "$elf" "$blobs/model.f32.postcard"
(cd firmware-example && FIRMWARE_PUBLIC_KEY="$blobs/bench.pub.pem" FIRMWARE_SECURITY_COUNTER=3 \
  cargo build --release --features signed --target-dir target/signed 2>/dev/null)
signed=firmware-example/target/signed/thumbv7em-none-eabihf/release/firmware-example
flash "$signed" "$blobs/model.int8.signed"
size=$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size | head -1)
for build in "$elf" "$signed"; do
  echo "$build: flash $("$size" -A "$build" | awk '/^\.(vector_table|text|rodata|data) / { n += $2 } END { print n }') B"
done

echo "== training (bundled data, release build, 2 cores)"
out=$(mktemp -d)
hyperfine -N --warmup 1 --runs 5 \
  "target/release/trainer train -q --out-dir $out/a" \
  "target/release/trainer train -q --preset tutorial --out-dir $out/b"
RAYON_NUM_THREADS=1 hyperfine -N --warmup 1 --runs 5 \
  "target/release/trainer train -q --out-dir $out/a" \
  "target/release/trainer train -q --preset tutorial --out-dir $out/b"
echo "== time to accuracy (default preset, RAYON_NUM_THREADS=1)"
RAYON_NUM_THREADS=1 target/release/trainer train --out-dir "$out/a" 2>/dev/null
