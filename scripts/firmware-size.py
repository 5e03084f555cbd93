#!/usr/bin/env python3
"""Flash and RAM of the firmware, and of the infer-core part with its weights.

Usage: scripts/firmware-size.py [ELF]   (default: the release build of firmware-example)

Sections come from llvm-size; the infer-core part is the sum of the symbols (from llvm-nm)
of infer-core and the crates only it pulls in (postcard, serde, libm, crc, heapless), plus the
compiled-in blob. Formatting of infer-core's errors is counted apart: it is linked only when
the application prints them. Needs `rustup component add llvm-tools`.
"""
import subprocess
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
elf = Path(sys.argv[1]) if len(sys.argv) > 1 else \
    root / "firmware-example/target/thumbv7em-none-eabihf/release/firmware-example"
sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True, check=True).stdout.strip()
tools = Path(sysroot) / "lib/rustlib/x86_64-unknown-linux-gnu/bin"


def run(tool, *args):
    return subprocess.run([str(tools / tool), *args], capture_output=True, text=True, check=True).stdout


sections = {}
for line in run("llvm-size", "-A", str(elf)).splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1].isdigit():
        sections[parts[0]] = int(parts[1])
flash = sum(sections.get(s, 0) for s in (".vector_table", ".text", ".rodata", ".data"))
ram = sections.get(".data", 0) + sections.get(".bss", 0)

INFER_CORE = ("infer_core", "postcard", "serde", "libm", "crc::", "heapless")
# Feature `signed`: Ed25519 verification (infer_core::signed's own code counts here too).
SIGNATURE = ("ed25519", "curve25519", "sha2", "subtle", "signature::", "infer_core::signed")
FORMATTING = ("as core..fmt", "as$u20$core..fmt", "Display", "Debug")
code = formatting = blob = signature = 0
for line in run("llvm-nm", "-S", "--size-sort", "-C", str(elf)).splitlines():
    parts = line.split(None, 3)
    if len(parts) != 4:
        continue
    size, name = int(parts[1], 16), parts[3]
    if "COMPILED_IN" in name:
        blob += size
    elif any(k in name for k in SIGNATURE):
        signature += size
    elif any(k in name for k in INFER_CORE):
        if any(k in name for k in FORMATTING):
            formatting += size
        else:
            code += size

print(f"firmware {elf.name}: flash {flash} B (text {sections.get('.text', 0)}, "
      f"rodata {sections.get('.rodata', 0)}), static RAM {ram} B (data {sections.get('.data', 0)}, "
      f"bss {sections.get('.bss', 0)})")
print(f"infer-core code (decode + inference + softmax): {code} B")
print(f"int8 weights blob: {blob} B")
print(f"infer-core code + weights: {code + blob} B = {(code + blob) / 1024:.2f} KiB (target <= 12 KiB)")
print(f"infer-core error formatting (linked only when printed): {formatting} B")
if signature:
    print(f"signature verification (feature signed: ed25519-dalek, curve25519-dalek, sha2): {signature} B")
