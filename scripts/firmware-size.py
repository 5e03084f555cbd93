#!/usr/bin/env python3
"""Flash that infer-core costs the example firmware, measured by difference.

Usage: scripts/firmware-size.py [CORE] [--schemes LIST]

CORE is one of firmware-example/boards/ (default m4f), built as scripts/firmware.sh builds it:
with the board's config file and its kernel features. LIST (default f32,int8,int4) is the weight
schemes the build runs; the compiled-in blob is the reference model in the first of int8, int4
and f32 among them (an int4-only device: `--schemes int4`). Builds firmware-example twice in release: as it is, and with feature `without-infer-core`,
where src/infer.rs replaces every infer-core call with a stand-in returning opaque values and
the compiled-in blob is left out; the rest of the program (printing, measuring, test images)
stays. Flash is .vector_table + .text + .rodata + .data, as llvm-size reports them (the vector
table, on Arm, is the same in both and cancels out), plus, on RISC-V, riscv-rt's .init.rust
and any .eh_frame (the RISC-V layout discards it; counted in the total, not listed). The
difference is infer-core's code, everything
only it pulls in (libm, heapless, core's generic code it instantiates, its error messages) and
the compiled-in blob, less the few bytes of the stand-ins. The largest symbols only the full build
has are listed. Needs `rustup component add llvm-tools` (or llvm-size and llvm-nm on PATH).
"""
import argparse
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

root = Path(__file__).resolve().parent.parent
firmware = root / "firmware-example"
SCHEMES = "f32,int8,int4"
# The flash infer-core may take with the compiled-in blob, by its scheme.
BUDGETS = {"int8": 12 * 1024, "int4": 8 * 1024}
FLASH = (".vector_table", ".text", ".rodata", ".data", ".init.rust", ".eh_frame")


def tool(name):
    sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True,
                             check=True).stdout.strip()
    bundled = next(Path(sysroot, "lib/rustlib").glob(f"*/bin/{name}"), None)
    return str(bundled) if bundled else shutil.which(name) or name


def run(*args, cwd=None):
    return subprocess.run(args, capture_output=True, text=True, check=True, cwd=cwd).stdout


def config(core):
    """The board's cargo config, over the default one, as cargo reads them for these keys."""
    default = tomllib.loads((firmware / ".cargo/config.toml").read_text())
    board = tomllib.loads((firmware / "boards" / f"{core}.toml").read_text())
    env = default.get("env", {}) | board.get("env", {})
    target_dir = board.get("build", {}).get("target-dir", "target")
    return env["FIRMWARE_KERNELS"], target_dir


def build(core, target_dir, schemes, *features):
    """Builds for `core` into `target_dir` with `features`; returns the ELF."""
    messages = run("cargo", "--config", f"boards/{core}.toml", "build", "--release", "--bin",
                   "firmware-example", "--target-dir", target_dir, "--no-default-features",
                   "--features", ",".join(f for f in (schemes, *features) if f),
                   "--message-format=json", cwd=firmware)
    return next(m["executable"] for m in map(json.loads, messages.splitlines())
                if m.get("executable"))


def sections(elf):
    sizes = {}
    for line in run(tool("llvm-size"), "-A", str(elf)).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def symbols(elf):
    sizes = {}
    for line in run(tool("llvm-nm"), "-S", "-C", "--defined-only", str(elf)).splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[2].lower() in "tr":
            name = parts[3].rsplit("::h", 1)[0]  # the hash differs between the builds
            sizes[name] = sizes.get(name, 0) + int(parts[1], 16)
    return sizes


def describe(label, elf):
    s = sections(elf)
    flash = sum(s.get(name, 0) for name in FLASH)
    print(f"{label}: flash {flash} B (vector table {s.get('.vector_table', 0)}, text "
          f"{s.get('.text', 0)}, rodata {s.get('.rodata', 0)}, data {s.get('.data', 0)})")
    return flash


parser = argparse.ArgumentParser(description="Flash that infer-core costs the example firmware.")
parser.add_argument("core", nargs="?", default="m4f",
                    choices=sorted(board.stem for board in (firmware / "boards").glob("*.toml")))
parser.add_argument("--schemes", default=SCHEMES, help=f"weight schemes built in (default {SCHEMES})")
args = parser.parse_args()
core, schemes = args.core, args.schemes
if not set(schemes.split(",")) <= set(SCHEMES.split(",")):
    parser.error(f"--schemes {schemes}: a comma-separated list of {SCHEMES}")
compiled_in = next(s for s in ("int8", "int4", "f32") if s in schemes.split(","))
kernels, target_dir = config(core)
if schemes != SCHEMES:  # as scripts/firmware.sh: other schemes build into their own directory
    target_dir = f"{target_dir}/schemes-{schemes.replace(',', '-')}"
full = build(core, target_dir, schemes, kernels)
stand_in = build(core, f"{target_dir}/without-infer-core", schemes, kernels, "without-infer-core")
with_core = describe("firmware", full)
without = describe("firmware without infer-core (stand-ins, no blob)", stand_in)
only_full = symbols(full)
for name, size in symbols(stand_in).items():
    only_full[name] = only_full.get(name, 0) - size
blob = next(size for name, size in only_full.items() if "COMPILED_IN" in name)
difference = with_core - without
budget = f" (budget {BUDGETS[compiled_in]} B)" if compiled_in in BUDGETS else ""
print(f"schemes {schemes}: infer-core code + {compiled_in} weights: {difference} B = "
      f"{difference / 1024:.2f} KiB{budget}: the blob {blob} B (aligned), code {difference - blob} B")
print("largest symbols only in the full build (B):")
for name, size in sorted(only_full.items(), key=lambda kv: -kv[1])[:12]:
    if size > 0:
        print(f"  {size:6} {name[:100]}")
