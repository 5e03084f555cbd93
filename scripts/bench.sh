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
  grep -E "^(cpu flags|one|10k)|time:" | grep -v "%" | sed 's/ \+/ /g' |
  awk '/^cpu flags/ { print; next } { printf "%s%s", $0, (++n % 2 ? " " : "\n") }'

echo "== every core (QEMU, -icount shift=0): compiled-in int8 blob, flashed int4 and f32 blobs"
echo "| core | kernel | instructions per int8 / int4 / f32 inference | stack (predict) int8 / int4 / f32 | int8 / int4 / f32 digest |"
echo "|---|---|---|---|---|"
value() { sed -n "s/^$1: \([^ ]*\).*/\1/p"; }
reports=$(mktemp)
cores="m0 m3 m4f m7 m33 m55 rv32"
for core in $cores; do
  int8=$(scripts/firmware.sh "$core" 2>/dev/null)
  int4=$(scripts/firmware.sh "$core" tests/fixtures/model.int4.postcard 2>/dev/null)
  f32=$(scripts/firmware.sh "$core" tests/fixtures/model.f32.postcard 2>/dev/null)
  kernel=$(echo "$int8" | sed -n 's/.*; kernel: \([^;]*\);.*/\1/p')
  for scheme in int8 int4 f32; do
    printf -- '-- %s, %s\n%s\n' "$core" "$scheme" "${!scheme}" | grep -vE "^image" >>"$reports"
  done
  each() { for r in "$int8" "$int4" "$f32"; do echo "$r" | value "$1"; done | paste -sd/ | sed 's|/| / |g'; }
  echo "| $core | $kernel | $(each "instructions per inference") | $(each "stack high-water per inference") B | $(each "logits digest") |"
done
cat "$reports"

echo "== flash: infer-core code + compiled-in blob, by the schemes a build runs (scripts/firmware-size.py CORE --schemes S)"
echo "| core | all schemes (int8 blob) | int8 only | int4 only |"
echo "|---|---|---|---|"
for core in $cores; do
  flash() {
    scripts/firmware-size.py "$core" --schemes "$1" |
      sed -n 's/^schemes [^:]*: infer-core code + [a-z0-9]* weights: \([0-9]*\) B.*code \([0-9]*\) B$/\1 B (code \2 B)/p'
  }
  echo "| $core | $(flash f32,int8,int4) | $(flash int8) | $(flash int4) |"
done
echo "-- m4f: flash by difference, in detail"
scripts/firmware-size.py m4f
scripts/firmware-size.py m4f --schemes int4

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
echo "-- and the firmware built with feature update (model store + update link on UART0)"
(cd firmware-example && cargo build --release --features update --target-dir target/update 2>/dev/null)
update=firmware-example/target/update/thumbv7em-none-eabihf/release/firmware-example
size=$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size | head -1)
for build in "$elf" "$signed" "$update"; do
  echo "$build: flash $("$size" -A "$build" | awk '/^\.(vector_table|text|rodata|data) / { n += $2 } END { print n }') B"
done

echo "== training (bundled data, release build, 2 cores): wall time, peak memory"
out=$(mktemp -d)
hyperfine -N --warmup 1 --runs 10 \
  "target/release/trainer train -q --out-dir $out/a" \
  "target/release/trainer train -q --preset tutorial --out-dir $out/b"
for run in 1 2 3; do
  /usr/bin/time -f "default preset: peak RSS %M KB, %e s" target/release/trainer train -q --out-dir "$out/m" >/dev/null
done
echo "== accuracy: float / int8 / int4 (default preset, seeds 0-5; tutorial preset, seed 0)"
for seed in 0 1 2 3 4 5; do
  echo "-- default, seed $seed"
  target/release/trainer train --seed "$seed" --out-dir "$out/s$seed" 2>/dev/null | grep "test accuracy  "
done
echo "-- tutorial, seed 0"
target/release/trainer train --preset tutorial --out-dir "$out/t" 2>/dev/null | grep "test accuracy  "
echo "== time to accuracy (default preset)"
target/release/trainer train --out-dir "$out/a" 2>/dev/null
