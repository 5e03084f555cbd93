#!/usr/bin/env bash
# Fuzzes each cargo-fuzz target in fuzz/ (blob, signed, link, idx, safetensors) for SECONDS_PER_TARGET seconds
# (default 60) with libFuzzer and AddressSanitizer, and exits non-zero, naming the crash
# artifacts, if any target crashes, fails a check, times out or runs out of memory.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# CI (.ci/run) runs `scripts/fuzz.sh 10` as a smoke test. Needs the nightly toolchain; installs
# cargo-fuzz if missing. New inputs go to fuzz/corpus/<target> (git-ignored, kept between runs);
# fuzz/seeds/<target> and fuzz/regressions/<target> are read, never written. A crash leaves its
# input in fuzz/artifacts/<target>/: reproduce it with `cargo +nightly fuzz run <target> FILE`,
# fix the library, and commit the file to fuzz/regressions/<target>/ (`cargo test` replays it).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz build # all targets at once, before any clock starts

failed=()
started=$(mktemp) # crash inputs are the artifacts newer than this
trap 'rm -f "$started" "$started.log"' EXIT
for target in $(cargo +nightly fuzz list); do
  mkdir -p "fuzz/corpus/$target"
  dict=()
  if [[ -f "fuzz/dicts/$target.dict" ]]; then dict=("-dict=fuzz/dicts/$target.dict"); fi
  echo "== $target: ${seconds}s"
  if cargo +nightly fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" \
    "fuzz/regressions/$target" -- -max_total_time="$seconds" "${dict[@]}" >"$started.log" 2>&1
  then
    grep -E '^#[0-9]+[[:space:]]+DONE' "$started.log" || tail -n 3 "$started.log"
    echo "   corpus: $(find "fuzz/corpus/$target" -type f | wc -l) inputs"
  else
    grep -E -m 3 'panicked at|==ERROR|ERROR: libFuzzer|SUMMARY' "$started.log" || true
    grep -E -A 3 '^Failing input:' "$started.log" || tail -n 30 "$started.log"
    failed+=("$target")
  fi
  rm -f "$started.log"
done

crashes=$(find fuzz/artifacts -type f -newer "$started" 2>/dev/null || true)
if ((${#failed[@]})) || [[ -n $crashes ]]; then
  echo "FUZZING FAILED (${failed[*]:-}); crash inputs:"
  echo "${crashes:-  none written}" | sed 's/^/  /'
  exit 1
fi
echo "fuzzing passed: ${seconds}s per target, no crash"
