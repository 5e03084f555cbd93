#!/usr/bin/env bash
# Field weight updates, end to end under QEMU: the Cortex-M4F firmware built with feature
# `update` keeps its models in a two-slot store on a flash that outlives QEMU (a host file),
# and `trainer push` sends it new ones over its UART (a TCP port, then a pty). Checks, step by
# step, that the device runs the right model after each push, restart, killed transfer and
# power cut (firmware-example/src/flash.rs cuts the power in the middle of a chosen flash
# operation); then, built again with feature `signed` and a fresh key, that a device that
# requires signatures refuses a plain blob and rolled-back envelopes and runs a newer signed
# one. Exits 0 only if every step did.
#
#   scripts/update-demo.sh
#
# TRAINER names the trainer binary to push with (default: target/debug/trainer, built here).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
fixtures="$root/tests/fixtures"
# The reference models' logits digests over the firmware's test images: the same on the host
# and on every core (tests/tests/firmware.rs). The compiled-in model is the int8 one.
INT8=0xb3399ca3
INT4=0x0f2890c9
F32=0xc54fd412
# Seconds to wait for the device to boot, take a push or cut the power.
PATIENCE=60

work="$(mktemp -d)"
qemu_pid=""
push_pid=""
started=$SECONDS
cleanup() {
    [[ -z "$qemu_pid" ]] || kill -9 "$qemu_pid" 2>/dev/null || true
    [[ -z "$push_pid" ]] || kill -9 "$push_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [[ -f "$work/device.log" ]]; then
        echo "--- the device's log, last lines:" >&2
        grep -v '^image ' "$work/device.log" | tail -n 20 >&2
    fi
    exit 1
}

step() {
    echo
    echo "== $* ($((SECONDS - started)) s)"
}

# The firmware with `update`, and the trainer; prints the firmware ELF's path.
build() {
    (cd "$root/firmware-example" && cargo build --release --features update \
        --message-format=json-render-diagnostics | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')
    if [[ -z "${TRAINER:-}" ]]; then
        (cd "$root" && cargo build -q -p trainer >&2)
    fi
}

# The firmware with `update` and `signed`, trusting the public key `public_key` (PEM) from
# security counter 2 on, in a target dir of its own (the unsigned build keeps its ELF and need
# not be rebuilt next time); prints the firmware ELF's path.
build_signed() {
    local public_key="$1"
    (cd "$root/firmware-example" \
        && FIRMWARE_PUBLIC_KEY="$public_key" FIRMWARE_SECURITY_COUNTER=2 cargo build --release \
            --features update,signed --target-dir target/update-signed \
            --message-format=json-render-diagnostics \
        | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')
}

# Signed envelopes of the reference models with security counter `n`, signed with the key
# in $work, into $work/signed-N (model.{int8,int4,f32}.signed); checks that each holds the
# fixture's blob (after the envelope's 16-byte header).
sign() {
    local n="$1" scheme blob
    (cd "$root" && "$trainer" -q export "$fixtures/model.safetensors" --out-dir "$work/signed-$n" \
        --signing-key "$work/key.pem" --counter "$n" >/dev/null) \
        || fail "trainer export --counter $n failed"
    for scheme in int8 int4 f32; do
        blob="$fixtures/model.$scheme.postcard"
        cmp -s <(tail -c +17 "$work/signed-$n/model.$scheme.signed" | head -c "$(wc -c <"$blob")") \
            "$blob" || fail "signed-$n/model.$scheme.signed does not hold $(basename "$blob")"
    done
}

# A TCP port on the loopback interface that nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until the device's log matches `pattern`, or fails saying `what`.
await_log() {
    local pattern="$1" what="$2" deadline=$((SECONDS + PATIENCE))
    until grep -qE "$pattern" "$work/device.log"; do
        if [[ -n "$qemu_pid" ]] && ! kill -0 "$qemu_pid" 2>/dev/null; then
            fail "QEMU exited before $what"
        fi
        ((SECONDS < deadline)) || fail "no $what within $PATIENCE s"
        sleep 0.05
    done
}

# Boots the device on the flash in $work with its UART on `serial` (a QEMU -serial value),
# logging to device.log, and waits until it serves the link.
boot() {
    local serial="$1"
    : >"$work/device.log"
    (cd "$work" && exec qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic \
        -monitor none -semihosting-config enable=on,target=native -icount shift=0 \
        -serial "$serial" -kernel "$elf" </dev/null >"$work/device.log" 2>&1) &
    qemu_pid=$!
    await_log '^link: serving on UART0' "boot"
}

# Ends QEMU as a power cut would: no chance to finish anything.
power_off() {
    kill -9 "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
    qemu_pid=""
}

# The model the device last booted: its "model:" line.
model() {
    grep '^model: ' "$work/device.log" | tail -n 1
}

# Checks that the device runs `expected` ("slot A, sequence 1" or "compiled-in") with `digest`.
expect_model() {
    local expected="$1" digest="$2" line
    line="$(model)"
    [[ "$line" == "model: $expected, "*", logits digest $digest" ]] \
        || fail "expected the device to run $expected with digest $digest; it says: $line"
    ! grep -q '^error' "$work/device.log" || fail "the device reported an error"
    echo "ok: $line"
}

# Pushes `blob` to `port` with the trainer (more options after them) and waits for the
# device to boot it.
push() {
    local blob="$1" port="$2" booted
    shift 2
    booted="$(grep -c '^model: ' "$work/device.log" || true)"
    local status=0
    "$trainer" push "$blob" --port "$port" "$@" >"$work/push.log" 2>&1 || status=$?
    sed 's/^/  trainer: /' "$work/push.log"
    ((status == 0)) || fail "trainer push $(basename "$blob") failed with status $status"
    local deadline=$((SECONDS + PATIENCE))
    until (($(grep -c '^model: ' "$work/device.log") > booted)); do
        ((SECONDS < deadline)) || fail "the device did not boot the pushed model"
        sleep 0.05
    done
    grep '^update: ' "$work/device.log" | tail -n 1 | sed 's/^/  device: /'
}

# Pushes `blob` to `port`, which the device must refuse: the trainer exits 65 (invalid
# input) and prints the device's reason, matching `reason`; the device boots nothing.
push_refused() {
    local blob="$1" port="$2" reason="$3" booted status=0
    booted="$(grep -c '^model: ' "$work/device.log" || true)"
    "$trainer" push "$blob" --port "$port" >"$work/push.log" 2>&1 || status=$?
    sed 's/^/  trainer: /' "$work/push.log"
    ((status == 65)) || fail "trainer push $(basename "$blob") exited $status, not 65 (refused)"
    grep -qF "$reason" "$work/push.log" || fail "the trainer printed no reason \"$reason\""
    (($(grep -c '^model: ' "$work/device.log") == booted)) \
        || fail "the device booted a model it refused"
    echo "  trainer push exited with status 65"
}

# Starts pushing `blob` to the TCP port in the background, as $push_pid.
push_in_background() {
    "$trainer" push "$1" --port "127.0.0.1:$port" >"$work/push.log" 2>&1 &
    push_pid=$!
}

# Kills the background push if it still runs, and says how it ended.
end_push() {
    kill -9 "$push_pid" 2>/dev/null || true
    local status=0
    wait "$push_pid" 2>/dev/null || status=$?
    push_pid=""
    echo "  trainer push ended with status $status: $(tail -n 1 "$work/push.log")"
}

# The flash operations (erases, then programs) of the update the device last committed, from
# its commit line: "update: ... (flash since boot: erases E, programs P)". Right after the
# first update since boot, they are that update's.
operations() {
    grep '^update: ' "$work/device.log" | tail -n 1 \
        | sed -n 's/.*(flash since boot: erases \([0-9]*\), programs \([0-9]*\))$/\1 \2/p'
}

# Arms a power cut at flash operation `n`, boots, pushes `blob` until the power goes, and
# restarts the device on what the flash holds.
cut_during() {
    local n="$1" blob="$2"
    echo "$n" >"$work/flash.cut"
    boot "$tcp"
    push_in_background "$blob"
    await_log "^flash: power cut during operation $n " "power cut at operation $n"
    grep '^flash: power cut during' "$work/device.log" | sed 's/^/  device: /'
    power_off
    end_push
    rm "$work/flash.cut"
    boot "$tcp"
}

step "build"
elf="$(build)" || fail "the build failed"
[[ -x "$elf" ]] || fail "the build named no firmware ELF"
trainer="${TRAINER:-$root/target/debug/trainer}"
echo "ok: $elf"

port="$(free_port)"
tcp="tcp:127.0.0.1:$port,server=on,wait=off"
head -c 65536 /dev/zero | tr '\0' '\377' >"$work/flash.bin"

step "a. first boot on an erased flash: the compiled-in model"
boot "$tcp"
expect_model "compiled-in" "$INT8"

step "b. push the int4 model over TCP port $port"
push "$fixtures/model.int4.postcard" "127.0.0.1:$port"
expect_model "slot A, sequence 1" "$INT4"
read -r int4_erases int4_programs <<<"$(operations)"

step "c. restart on the same flash: the int4 model persisted"
power_off
boot "$tcp"
expect_model "slot A, sequence 1" "$INT4"

step "d. kill QEMU in the middle of a push of the f32 model, restart: the int4 model runs"
push_in_background "$fixtures/model.f32.postcard"
await_log '^link: 8192 bytes received' "transfer"
echo "  device: $(grep '^link: .* bytes received' "$work/device.log" | tail -n 1)"
power_off
end_push
boot "$tcp"
expect_model "slot A, sequence 1" "$INT4"

step "d2. kill the trainer in the middle of a push of the f32 model, push again: it resumes"
push_in_background "$fixtures/model.f32.postcard"
await_log '^link: 8192 bytes received' "transfer"
end_push
push "$fixtures/model.f32.postcard" "127.0.0.1:$port" --json
grep -q '"resumed_at": [1-9]' "$work/push.log" || fail "the second push did not resume"
expect_model "slot B, sequence 2" "$F32"
read -r f32_erases f32_programs <<<"$(operations)"
[[ -n "$int4_programs" && -n "$f32_programs" ]] || fail "no flash operation counts in the log"
echo "  flash operations of an update (erases + programs, the header's last):" \
    "int4 $int4_erases + $int4_programs, f32 $f32_erases + $f32_programs"

step "e1. power cut in the first erase of an int4 update: the f32 model stays"
power_off
cut_during 1 "$fixtures/model.int4.postcard"
expect_model "slot B, sequence 2" "$F32"
push "$fixtures/model.int4.postcard" "127.0.0.1:$port"
expect_model "slot A, sequence 3" "$INT4"

step "e2. power cut in a program half-way through an f32 update's payload: the int4 model stays"
power_off
cut_during $((f32_erases + f32_programs / 2)) "$fixtures/model.f32.postcard"
expect_model "slot A, sequence 3" "$INT4"
push "$fixtures/model.f32.postcard" "127.0.0.1:$port"
expect_model "slot B, sequence 4" "$F32"

step "e3. power cut in the header write that ends an int4 update: the f32 model stays"
power_off
cut_during $((int4_erases + int4_programs)) "$fixtures/model.int4.postcard"
expect_model "slot B, sequence 4" "$F32"
push "$fixtures/model.int4.postcard" "127.0.0.1:$port"
expect_model "slot A, sequence 5" "$INT4"

step "f. push the f32 model over a serial line (a pty)"
power_off
boot "pty"
pty="$(sed -n 's|^char device redirected to \(/dev/pts/[0-9]*\) .*|\1|p' "$work/device.log")"
[[ -n "$pty" ]] || fail "QEMU named no pty"
echo "  device's UART: $pty"
expect_model "slot A, sequence 5" "$INT4"
push "$fixtures/model.f32.postcard" "$pty"
expect_model "slot B, sequence 6" "$F32"
power_off

step "g. a device that requires signatures: key, signed envelopes (counters 1, 2, 3), firmware"
"$trainer" -q keygen --out "$work/key.pem" >/dev/null || fail "trainer keygen failed"
for n in 1 2 3; do sign "$n"; done
elf="$(build_signed "$work/key.pub.pem")" || fail "the build with \`signed\` failed"
[[ -x "$elf" ]] || fail "the build with \`signed\` named no firmware ELF"
echo "ok: $elf, trusts $work/key.pub.pem from security counter 2 on"
head -c 65536 /dev/zero | tr '\0' '\377' >"$work/flash.bin"
boot "$tcp"
expect_model "compiled-in" "$INT8"

step "g1. push a plain blob: refused as unsigned, the compiled-in model runs"
push_refused "$fixtures/model.int4.postcard" "127.0.0.1:$port" \
    "blob is not signed, and this device requires a signature (unsigned blob"
expect_model "compiled-in" "$INT8"

step "g2. push the int4 model signed with counter 1, below the device's 2: refused as a rollback"
push_refused "$work/signed-1/model.int4.signed" "127.0.0.1:$port" \
    "rollback refused: security counter 1 is below 2"
expect_model "compiled-in" "$INT8"

step "g3. push the int4 model signed with counter 3: it runs"
push "$work/signed-3/model.int4.signed" "127.0.0.1:$port"
expect_model "slot A, sequence 1" "$INT4"

step "g4. push the int8 model signed with counter 2, below the active model's 3: refused"
push_refused "$work/signed-2/model.int8.signed" "127.0.0.1:$port" \
    "rollback refused: security counter 2 is below 3"
expect_model "slot A, sequence 1" "$INT4"

step "g5. restart on the same flash: the counter-3 int4 model runs"
power_off
boot "$tcp"
expect_model "slot A, sequence 1" "$INT4"
power_off

echo
echo "update demo: PASS in $((SECONDS - started)) s"
