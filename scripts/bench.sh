#!/usr/bin/env bash
# Every number in BENCHMARKS.md, in one run: host inference (criterion, one core), every
# microcontroller core's instructions, stack and flash (QEMU, llvm tools), and training wall
# time (hyperfine). Needs: qemu-system-arm, qemu-system-misc, the firmware's five Rust targets
# (see .ci/run), llvm-tools, hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== machine"
uname -m; nproc; grep -m1 "model name" /proc/cpuinfo || true; rustc --version

echo "== host inference (one core)"
RAYON_NUM_THREADS=1 taskset -c 0 cargo bench -p trainer --bench inference 2>&1 |
  grep -E "^(one|10k)|time:" | grep -v "%" | paste - - | sed 's/ \+/ /g'

echo "== every core (QEMU, -icount shift=0): compiled-in int8 blob, flashed f32 blob, flash by difference"
echo "| core | int8 kernel | instructions per int8 inference | per f32 inference | stack (int8 predict) | int8 digest | f32 digest | infer-core code + int8 blob |"
echo "|---|---|---|---|---|---|---|---|"
value() { sed -n "s/^$1: \([^ ]*\).*/\1/p"; }
reports=$(mktemp)
for core in m0 m3 m4f m7 m33 m55 rv32; do
  int8=$(scripts/firmware.sh "$core" 2>/dev/null)
  f32=$(scripts/firmware.sh "$core" tests/fixtures/model.f32.postcard 2>/dev/null)
  size=$(scripts/firmware-size.py "$core" | sed -n 's/^infer-core code + int8 weights: \([0-9]*\) B.*code \([0-9]*\) B$/\1 B (code \2 B)/p')
  kernel=$(echo "$int8" | sed -n 's/.*int8 kernel: \([^;]*\);.*/\1/p')
  printf -- '-- %s, int8\n%s\n-- %s, f32\n%s\n' "$core" "$int8" "$core" "$f32" | grep -vE "^image" >>"$reports"
  echo "| $core | $kernel | $(echo "$int8" | value "instructions per inference") | $(echo "$f32" | value "instructions per inference") | $(echo "$int8" | value "stack high-water per inference") B | $(echo "$int8" | value "logits digest") | $(echo "$f32" | value "logits digest") | $size |"
done
cat "$reports"
echo "-- m4f: flash by difference, in detail"
scripts/firmware-size.py m4f

echo "== Cortex-M4F: a signed int8 blob on the firmware built with feature signed"
cargo build --release -p trainer 2>/dev/null
blobs=$(mktemp -d)
target/release/trainer keygen --out "$blobs/bench.pem" >/dev/null
target/release/trainer export tests/fixtures/model.safetensors --out-dir "$blobs" -q \
  --signing-key "$blobs/bench.pem" --counter 3
runner=$(sed -n 's/^runner = "\(.*\)"$/\1/p' firmware-example/.cargo/config.toml)
elf=firmware-example/target/thumbv7em-none-eabihf/release/firmware-example
flash() { $runner "$1" -device "loader,file=$2,addr=0x003F0000,force-raw=on" | grep -vE "^image"; }
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
