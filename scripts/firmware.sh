#!/usr/bin/env bash
# Builds firmware-example for one core and runs it under QEMU, or only builds it.
#
#   scripts/firmware.sh CORE [BLOB]   build, run (BLOB flashed into the WEIGHTS region if given),
#                                     print the firmware's report; exit with its status
#   scripts/firmware.sh --build CORE  build only; print the ELF's absolute path
#
# CORE is one of the boards in firmware-example/boards/. Each board file (a cargo config, taking
# precedence over firmware-example/.cargo/config.toml) sets the target, the QEMU runner and the
# board's [env]: its memory layout, whose WEIGHTS origin is where BLOB goes, and the infer-core
# kernel features it builds with. FIRMWARE_SCHEMES (default "f32,int8,int4") names the weight
# schemes the build runs. Cargo's output goes to stderr, so stdout is the report.
set -euo pipefail

CORES="m0 m3 m4f m7 m33 m55 rv32"
firmware="$(cd "$(dirname "$0")/../firmware-example" && pwd)"

usage() {
    echo "usage: $0 CORE [BLOB] | $0 --build CORE    (CORE: $CORES)" >&2
    exit 2
}

# The value of `NAME = "..."` in the board file, else in .cargo/config.toml (cargo's precedence).
setting() {
    sed -n "s/^$1 = \"\(.*\)\"$/\1/p" "boards/$core.toml" .cargo/config.toml | head -n 1
}

# The origin of the WEIGHTS region in the board's memory layout.
weights_origin() {
    local memory
    memory="$(setting FIRMWARE_MEMORY)"
    sed -n 's/^ *WEIGHTS *: *ORIGIN *= *\(0x[0-9A-Fa-f]*\).*/\1/p' "$memory"
}

# cargo with the board's configuration and kernel features, and the schemes asked for.
board_cargo() {
    local command="$1"
    shift
    local schemes="${FIRMWARE_SCHEMES:-f32,int8,int4}" target_dir=()
    if [[ "$schemes" != f32,int8,int4 ]]; then
        # Its own directory: a build of other schemes would overwrite the ELF of the default one.
        target_dir=(--target-dir "$(setting target-dir || true)")
        target_dir[1]="${target_dir[1]:-target}/schemes-${schemes//,/-}"
    fi
    cargo --config "boards/$core.toml" "$command" --release --bin firmware-example \
        "${target_dir[@]}" --no-default-features \
        --features "$(setting FIRMWARE_KERNELS) $schemes" "$@"
}

build_only=false
if [[ "${1:-}" == --build ]]; then
    build_only=true
    shift
fi
if $build_only; then
    [[ $# -eq 1 ]] || usage
else
    [[ $# -ge 1 && $# -le 2 ]] || usage
fi
core="$1"
[[ " $CORES " == *" $core "* ]] || usage
if [[ $# -eq 2 ]]; then
    [[ -f "$2" ]] || { echo "$0: no such blob: $2" >&2; exit 2; }
    blob="$(realpath "$2")"
fi
cd "$firmware"

if $build_only; then
    board_cargo build --message-format=json-render-diagnostics \
        | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p'
    exit 0
fi
flash=()
if [[ -v blob ]]; then
    flash=(-device "loader,file=$blob,addr=$(weights_origin),force-raw=on")
fi
# After `--`, cargo run passes the flash arguments on to QEMU, after the ELF.
board_cargo run -- "${flash[@]}"
