//! The firmware under QEMU gives exactly what infer-core computes on the host, on every core
//! `scripts/firmware.sh` builds for (Cortex-M0, M3, M4F, M7, M33, M55, RISC-V rv32imac): for the
//! compiled-in blob and for int8, int4 and f32 blobs flashed into its WEIGHTS region, within
//! instruction and stack budgets. Cores without the DSP extension contain no DSP or Helium
//! instructions. On the Cortex-M4F, an int4-only build runs its compiled-in int4 blob within its
//! flash budget and refuses other schemes, unaligned accesses trap during decoding and inference,
//! damaged blobs are refused, and a firmware built with a public key takes only blobs signed
//! with its key, not rolled back.
//!
//! Needs `qemu-system-arm`, `qemu-system-riscv32`, the five Rust targets and llvm-tools'
//! `llvm-objdump`. Without them the tests say so and pass, except under CI (`CI=true`), where
//! they fail.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crc::{CRC_32_ISO_HDLC, Crc};
use ed25519_dalek::SigningKey;
use infer_core::Model;
use infer_core::signed::seal;
use tests::{mnist, short_run};
use trainer::quantize::quantize;
use trainer::signing;

#[path = "../support/skip.rs"]
mod skip;

/// The cores `scripts/firmware.sh` builds for, as it names them.
const CORES: [&str; 7] = ["m0", "m3", "m4f", "m7", "m33", "m55", "rv32"];
/// The Rust targets of [`CORES`].
const TARGETS: [&str; 5] = [
    "thumbv6m-none-eabi",
    "thumbv7m-none-eabi",
    "thumbv7em-none-eabihf",
    "thumbv8m.main-none-eabihf",
    "riscv32imac-unknown-none-elf",
];
/// The start of the WEIGHTS region of the Cortex-M4F's layout, `firmware-example/boards/mps2.x`.
const WEIGHTS_ADDR: u32 = 0x003F_0000;
/// The test images the firmware embeds (`firmware-example/build.rs`).
const EMBEDDED_IMAGES: usize = 128;
/// The lowest security counter the signed firmware accepts.
const SECURITY_COUNTER: u32 = 5;

/// The key the signed firmware trusts.
fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn firmware_dir() -> PathBuf {
    repo().join("firmware-example")
}

/// A file of `tests/fixtures`.
fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)).unwrap()
}

/// Whether this machine has what building and running every core takes; if not, says what is
/// missing (a skip, or a failure under CI).
fn tools_present() -> bool {
    static MISSING: OnceLock<Vec<String>> = OnceLock::new();
    let missing = MISSING.get_or_init(|| {
        let works = |program: &str, args: &[&str]| {
            Command::new(program).args(args).output().ok().filter(|o| o.status.success())
        };
        let mut missing: Vec<String> = ["qemu-system-arm", "qemu-system-riscv32"]
            .into_iter()
            .filter(|qemu| works(qemu, &["--version"]).is_none())
            .map(|qemu| format!("{qemu} (apt-get install qemu-system-arm qemu-system-misc)"))
            .collect();
        let installed = works("rustup", &["target", "list", "--installed"])
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        missing.extend(
            TARGETS
                .iter()
                .filter(|t| !installed.lines().any(|l| l == **t))
                .map(|t| format!("target {t} (rustup target add {t})")),
        );
        if objdump().is_none() {
            missing.push("llvm-objdump (rustup component add llvm-tools)".into());
        }
        missing
    });
    if missing.is_empty() {
        return true;
    }
    skip::skip(&format!("missing {}", missing.join(", ")));
    false
}

/// Runs `scripts/firmware.sh` with `args`.
fn firmware_sh(args: &[&str]) -> Output {
    firmware_sh_with_schemes(None, args)
}

/// Runs `scripts/firmware.sh` with `args`, for the weight `schemes` given (else the default).
fn firmware_sh_with_schemes(schemes: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(repo().join("scripts/firmware.sh"));
    if let Some(schemes) = schemes {
        command.env("FIRMWARE_SCHEMES", schemes);
    }
    command.args(args).output().unwrap()
}

/// Builds the firmware for `core` and returns its ELF.
fn elf(core: &str) -> PathBuf {
    let output = firmware_sh(&["--build", core]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "building for {core} failed:\n{stderr}");
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// What one firmware run printed.
struct Run {
    success: bool,
    output: String,
    predictions: Vec<usize>,
    digest: u32,
}

impl Run {
    fn of(output: &Output) -> Self {
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let predictions = text
            .lines()
            .filter_map(|l| l.strip_prefix("image "))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        let digest = text
            .lines()
            .find_map(|l| l.strip_prefix("logits digest: 0x"))
            .map_or(0, |hex| u32::from_str_radix(hex, 16).unwrap());
        let mut output_text = text;
        output_text.push_str(&String::from_utf8_lossy(&output.stderr));
        Run { success: output.status.success(), output: output_text, predictions, digest }
    }
}

/// Runs `scripts/firmware.sh core`, with `blob` flashed into the WEIGHTS region if given.
fn run_core(core: &str, blob: Option<&[u8]>) -> Run {
    run_core_with_schemes(None, core, blob)
}

/// [`run_core`] for a build of the weight `schemes` given.
fn run_core_with_schemes(schemes: Option<&str>, core: &str, blob: Option<&[u8]>) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.bin");
    let mut args = vec![core];
    if let Some(blob) = blob {
        std::fs::write(&path, blob).unwrap();
        args.push(path.to_str().unwrap());
    }
    Run::of(&firmware_sh_with_schemes(schemes, &args))
}

/// What the host computes for the same blob and images.
fn on_host(blob: &[u8]) -> (Vec<usize>, u32) {
    let model = Model::from_blob(blob).unwrap();
    let crc = Crc::<u32>::new(&CRC_32_ISO_HDLC);
    let mut digest = crc.digest();
    let predictions = (0..EMBEDDED_IMAGES)
        .map(|i| {
            let prediction = model.predict(mnist().test.image(i)).unwrap();
            prediction.logits.iter().for_each(|l| digest.update(&l.to_bits().to_le_bytes()));
            prediction.class
        })
        .collect();
    (predictions, digest.finalize())
}

fn assert_bit_exact(run: &Run, blob: &[u8], core: &str) {
    assert!(run.success, "firmware failed on {core}:\n{}", run.output);
    let (predictions, digest) = on_host(blob);
    assert_eq!(run.predictions, predictions, "{core}:\n{}", run.output);
    assert_eq!(run.digest, digest, "logit bits differ between x86_64 and {core}:\n{}", run.output);
}

/// The compiled-in int8 blob, then int8 and f32 blobs of another model and the reference
/// model's int4 blob flashed into the WEIGHTS region: every logit bit as on the host, and the
/// quantized inferences within their budgets.
fn bit_exact_on(core: &str) {
    if !tools_present() {
        return;
    }
    let run = run_core(core, None);
    let expected = "weights: compiled-in (WEIGHTS region is empty)";
    assert!(run.output.contains(expected), "{core}:\n{}", run.output);
    assert_bit_exact(&run, &fixture("model.int8.postcard"), core);
    assert_within_budgets(&run, core, "int8");
    let int8 = quantize(&short_run().model).to_blob().unwrap();
    let f32 = short_run().model.to_blob().unwrap();
    for blob in [int8, f32] {
        let run = run_core(core, Some(&blob));
        assert!(run.output.contains("weights: flashed"), "{core}:\n{}", run.output);
        assert_bit_exact(&run, &blob, core);
    }
    let int4 = fixture("model.int4.postcard");
    let run = run_core(core, Some(&int4));
    assert!(run.output.contains("weights: flashed"), "{core}:\n{}", run.output);
    assert_bit_exact(&run, &int4, core);
    assert_within_budgets(&run, core, "int4");
}

/// Stack of one inference <= 1 KiB, and instructions within [`instruction_budget`].
fn assert_within_budgets(run: &Run, core: &str, scheme: &str) {
    let instructions = report_number(run, "instructions per inference: ");
    let stack = report_number(run, "stack high-water per inference: ");
    assert!(stack <= 1024, "{core} {scheme}: {stack} bytes of stack per inference");
    if let Some(budget) = instruction_budget(core, scheme) {
        assert!(instructions <= budget, "{core} {scheme}: {instructions} instructions > {budget}");
    }
}

/// The number a report line starts with.
fn report_number(run: &Run, prefix: &str) -> u64 {
    let line = run.output.lines().find_map(|l| l.strip_prefix(prefix));
    let number = line.and_then(|l| l.split(' ').next()?.parse().ok());
    number.unwrap_or_else(|| panic!("no `{prefix}N` in the report:\n{}", run.output))
}

/// The most instructions one inference of a `scheme` model may take where a fast kernel runs
/// (QEMU counts them deterministically, so this is a regression test, not a benchmark).
fn instruction_budget(core: &str, scheme: &str) -> Option<u64> {
    match (core, scheme) {
        ("m4f" | "m7" | "m33", "int8") => Some(11_800),
        ("m4f" | "m7" | "m33", "int4") => Some(11_000),
        ("m55", "int8") => Some(1_500),
        ("m55", "int4") => Some(1_800),
        _ => None,
    }
}

/// A device that only runs int4 models: infer-core built with its `int4` feature alone runs
/// the compiled-in int4 blob bit-exact and within the int4 budgets, refuses an int8 blob in the
/// WEIGHTS region by its scheme (keeping the compiled-in one), and takes at most 8.25 KiB of
/// flash with its weights (int8 alone: 12 KiB), measured by difference.
#[test]
fn an_int4_only_build_runs_int4_within_budgets_and_refuses_other_schemes() {
    if !tools_present() {
        return;
    }
    let int4 = fixture("model.int4.postcard");
    let run = run_core_with_schemes(Some("int4"), "m4f", None);
    assert!(run.output.contains("model: Int4, 784 inputs"), "{}", run.output);
    assert_bit_exact(&run, &int4, "m4f (int4 only)");
    assert_within_budgets(&run, "m4f", "int4");
    let run = run_core_with_schemes(Some("int4"), "m4f", Some(&fixture("model.int8.postcard")));
    let refused = "weights: compiled-in (WEIGHTS region rejected: blob scheme 1 ";
    assert!(run.output.contains(refused), "{}", run.output);
    assert_bit_exact(&run, &int4, "m4f (int4 only)");
    for (schemes, budget) in [("int4", 8 * 1024 + 256), ("int8", 12 * 1024)] {
        let flash = infer_core_flash("m4f", schemes);
        assert!(
            flash <= budget,
            "{schemes} only: infer-core and its blob take {flash} B > {budget}"
        );
    }
}

/// Bytes of flash infer-core's code and the compiled-in blob take on `core` in a build of
/// `schemes`, as `scripts/firmware-size.py` measures them.
fn infer_core_flash(core: &str, schemes: &str) -> u64 {
    let output = Command::new(repo().join("scripts/firmware-size.py"))
        .args([core, "--schemes", schemes])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}{}", String::from_utf8_lossy(&output.stderr));
    let line = report.lines().find_map(|l| l.split_once(" weights: ").map(|(_, rest)| rest));
    let bytes = line.and_then(|l| l.split(' ').next()?.parse().ok());
    bytes.unwrap_or_else(|| panic!("no flash figure in:\n{report}"))
}

/// One test per core, named for it, so that each reports on its own and they run in parallel.
macro_rules! bit_exact_on_every_core {
    ($($core:ident),+) => {
        mod bit_exact_with_the_host_on {
            $(#[test] fn $core() { super::bit_exact_on(stringify!($core)); })+
        }
        #[test]
        fn the_tests_cover_every_core_the_script_knows() {
            assert_eq!(CORES, [$(stringify!($core)),+]);
            let usage = firmware_sh(&[]);
            assert!(!usage.status.success());
            let usage = String::from_utf8_lossy(&usage.stderr);
            assert!(usage.contains(&CORES.join(" ")), "usage names the cores: {usage}");
        }
    };
}
bit_exact_on_every_core!(m0, m3, m4f, m7, m33, m55, rv32);

/// llvm-tools' `llvm-objdump` (`rustup component add llvm-tools`).
fn objdump() -> Option<PathBuf> {
    let sysroot = Command::new("rustc").args(["--print", "sysroot"]).output().ok()?;
    let rustlib = Path::new(String::from_utf8(sysroot.stdout).ok()?.trim()).join("lib/rustlib");
    std::fs::read_dir(rustlib)
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin/llvm-objdump")))
        .find(|path| path.is_file())
}

/// The mnemonics of every instruction in `core`'s firmware, decoded with every Arm extension
/// (DSP, Helium, floating point) or every RISC-V one enabled, so that none hides as data.
fn mnemonics(core: &str) -> BTreeSet<String> {
    let decoder: &[&str] = if core == "rv32" {
        &["--mattr=+m,+a,+c,+f,+d,+v"]
    } else {
        &["--triple=thumbv8.1m.main-none-eabi", "--mattr=+mve.fp,+dsp,+fp64"]
    };
    let output = Command::new(objdump().unwrap())
        .args(["-d", "--no-show-raw-insn"])
        .args(decoder)
        .arg(elf(core))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let mnemonics: BTreeSet<String> = text
        .lines()
        .filter_map(|l| {
            let mut fields = l.split('\t');
            let address = fields.next()?.trim().strip_suffix(':')?;
            is_hex(address).then(|| fields.next()).flatten()
        })
        .map(|m| m.trim().to_lowercase())
        .filter(|m| !m.is_empty())
        .collect();
    assert!(mnemonics.len() > 20, "{core}: too few instructions decoded:\n{text}");
    mnemonics
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// Instructions of the Arm DSP extension (the v7E-M and v8-M "DSP" set).
fn is_arm_dsp(mnemonic: &str) -> bool {
    const DSP: [&str; 49] = [
        "smlad", "smladx", "smlsd", "smlsdx", "smlald", "smlaldx", "smlsld", "smlsldx", "smuad",
        "smuadx", "smusd", "smusdx", "smlabb", "smlabt", "smlatb", "smlatt", "smlawb", "smlawt",
        "smlalbb", "smlalbt", "smlaltb", "smlaltt", "smulbb", "smulbt", "smultb", "smultt",
        "smulwb", "smulwt", "smmla", "smmlar", "smmls", "smmlsr", "smmul", "smmulr", "sxtb16",
        "sxtab16", "uxtb16", "uxtab16", "ssat16", "usat16", "usad8", "usada8", "sel", "pkhbt",
        "pkhtb", "qadd", "qsub", "qdadd", "qdsub",
    ];
    const PARALLEL_OPS: [&str; 6] = ["add16", "add8", "sub16", "sub8", "asx", "sax"];
    const CONDITIONS: [&str; 15] =
        ["eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt"];
    let base = mnemonic.split('.').next().unwrap_or_default();
    let is = |m: &str| {
        DSP.contains(&m)
            || ["s", "q", "sh", "u", "uq", "uh"]
                .iter()
                .any(|p| m.strip_prefix(p).is_some_and(|op| PARALLEL_OPS.contains(&op)))
    };
    // Inside an IT block an instruction carries its condition: `smladeq`.
    is(base) || CONDITIONS.iter().any(|c| base.strip_suffix(c).is_some_and(is))
}

/// Instructions of Helium (MVE), the FPU, or v8.1-M's low-overhead loops: all start with `v`,
/// except the loops.
fn is_arm_vector_or_float(mnemonic: &str) -> bool {
    let base = mnemonic.split('.').next().unwrap_or_default();
    base.starts_with('v') || ["wls", "dls", "le", "letp", "dlstp", "wlstp", "lctp"].contains(&base)
}

/// Floating-point or vector instructions of RISC-V (F, D, V extensions).
fn is_riscv_float_or_vector(mnemonic: &str) -> bool {
    (mnemonic.starts_with('f') && !mnemonic.starts_with("fence")) || mnemonic.starts_with('v')
}

/// QEMU executes DSP instructions even on a Cortex-M3, so a passing run proves nothing: the
/// disassembly shows that the M0, M3 and RISC-V builds hold none. The M4F and M55 builds show
/// that the check sees them where they are.
#[test]
fn cores_without_dsp_contain_no_dsp_or_helium_instructions() {
    if !tools_present() {
        return;
    }
    let found = |core: &str, class: fn(&str) -> bool| -> BTreeSet<String> {
        mnemonics(core).into_iter().filter(|m| class(m)).collect()
    };
    for core in ["m0", "m3"] {
        assert_eq!(found(core, is_arm_dsp), BTreeSet::new(), "{core}: DSP instructions");
        let vector = found(core, is_arm_vector_or_float);
        assert_eq!(vector, BTreeSet::new(), "{core}: FPU/Helium instructions");
    }
    let rv32 = found("rv32", is_riscv_float_or_vector);
    assert_eq!(rv32, BTreeSet::new(), "rv32: float/vector instructions");
    assert!(found("m4f", is_arm_dsp).contains("smlad"), "the check finds the M4F's SMLAD");
    // llvm-objdump prints VMLADAVA by its alias, VMLAVA.
    assert!(
        found("m55", is_arm_vector_or_float).contains("vmlava.s8"),
        "and the M55's Helium VMLADAVA"
    );
}

/// The M4F firmware built by `cargo build --release` with `args` into `target_dir`, with the
/// default configuration (`.cargo/config.toml`).
fn build_m4f(args: &[&str], target_dir: &str, env: &[(&str, String)]) -> PathBuf {
    let output = Command::new("cargo")
        .args(["build", "--release", "--target-dir", target_dir])
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(firmware_dir())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    firmware_dir().join(target_dir).join("thumbv7em-none-eabihf/release")
}

/// The firmware built with feature `signed`, trusting [`signing_key`] from counter
/// [`SECURITY_COUNTER`] on.
fn signed_firmware() -> &'static Path {
    static ELF: OnceLock<PathBuf> = OnceLock::new();
    ELF.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let public_key =
            signing::write_key_pair(&signing_key(), &dir.path().join("key.pem")).unwrap();
        let env = [
            ("FIRMWARE_PUBLIC_KEY", public_key.display().to_string()),
            ("FIRMWARE_SECURITY_COUNTER", SECURITY_COUNTER.to_string()),
        ];
        build_m4f(&["--bins", "--features", "signed"], "target/signed", &env)
            .join("firmware-example")
    })
}

/// Runs an M4F build with the runner of `.cargo/config.toml`, optionally with `blob` loaded at
/// the WEIGHTS region as `-device loader` would flash it.
fn run_m4f(elf: &Path, blob: Option<&[u8]>) -> Run {
    let config = std::fs::read_to_string(firmware_dir().join(".cargo/config.toml")).unwrap();
    let runner =
        config.lines().find_map(|l| l.strip_prefix("runner = \"")).unwrap().trim_end_matches('"');
    let mut words = runner.split_whitespace();
    let mut command = Command::new(words.next().unwrap());
    command.args(words).arg(elf);
    let dir = tempfile::tempdir().unwrap();
    if let Some(blob) = blob {
        let path = dir.path().join("weights.bin");
        std::fs::write(&path, blob).unwrap();
        command.args([
            "-device",
            &format!("loader,file={},addr={WEIGHTS_ADDR:#x},force-raw=on", path.display()),
        ]);
    }
    Run::of(&command.output().unwrap())
}

#[test]
fn the_readme_embedding_example_runs_and_is_the_readme_text() {
    if !tools_present() {
        return;
    }
    let example = build_m4f(&["--examples"], "target", &[]).join("examples/embed");
    let run = run_m4f(&example, None);
    assert!(run.success && run.output.starts_with("digit 1 (p = 0.9"), "{}", run.output);
    let source = std::fs::read_to_string(firmware_dir().join("examples/embed.rs")).unwrap();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&source),
        "README.md must show firmware-example/examples/embed.rs verbatim"
    );
}

#[test]
fn a_damaged_flashed_blob_is_refused_and_the_compiled_in_one_used() {
    if !tools_present() {
        return;
    }
    let mut blob = quantize(&short_run().model).to_blob().unwrap();
    blob[100] ^= 0x01;
    let run = run_core("m4f", Some(&blob));
    assert!(
        run.output.contains("weights: compiled-in (WEIGHTS region rejected: blob CRC-32 mismatch"),
        "{}",
        run.output
    );
    assert_bit_exact(&run, &fixture("model.int8.postcard"), "m4f");

    let run = run_core("m4f", Some(b"ICBL\x07 a blob from the future"));
    assert!(
        run.output.contains("rejected: blob format version 7 is not supported"),
        "{}",
        run.output
    );
}

/// The other tests pass with unaligned accesses trapping (`CCR.UNALIGN_TRP` on every Armv7-M
/// and Armv8-M core), so they show that decoding and inference of version 2 blobs make only
/// aligned accesses; this one shows that the trap is armed. A version 1 blob's arrays are not
/// aligned, so the firmware faults reading its float scales, and says so. (The Cortex-M0 has no
/// unaligned loads at all: its build reads such data byte by byte.)
#[test]
fn an_unaligned_access_fails_the_run_loudly() {
    if !tools_present() {
        return;
    }
    for core in ["m3", "m4f", "m7", "m33", "m55"] {
        let run = run_core(core, Some(&fixture("model.v1.int8.postcard")));
        assert!(!run.success, "{core}:\n{}", run.output);
        let message = "error: unaligned access at pc 0x";
        assert!(run.output.contains(message), "{core}:\n{}", run.output);
    }
}

#[test]
fn signed_firmware_takes_a_signed_blob_bit_exact() {
    if !tools_present() {
        return;
    }
    let blob = quantize(&short_run().model).to_blob().unwrap();
    let run = run_m4f(signed_firmware(), Some(&seal(&blob, SECURITY_COUNTER, &signing_key())));
    assert!(
        run.output.contains("weights: flashed, signature verified, security counter 5 (minimum 5)"),
        "{}",
        run.output
    );
    assert_bit_exact(&run, &blob, "m4f");
}

#[test]
fn signed_firmware_refuses_unsigned_forged_tampered_and_rolled_back_blobs() {
    if !tools_present() {
        return;
    }
    let blob = quantize(&short_run().model).to_blob().unwrap();
    let mut tampered = seal(&blob, SECURITY_COUNTER, &signing_key());
    tampered[1000] ^= 0x01;
    let cases = [
        (blob.clone(), "blob is not signed"),
        (
            seal(&blob, SECURITY_COUNTER, &SigningKey::from_bytes(&[7; 32])),
            "signature check failed",
        ),
        (tampered, "signature check failed"),
        (
            seal(&blob, SECURITY_COUNTER - 1, &signing_key()),
            "rollback refused: security counter 4 is below 5",
        ),
    ];
    let compiled_in = fixture("model.int8.postcard");
    for (flashed, reason) in cases {
        let run = run_m4f(signed_firmware(), Some(&flashed));
        let expected = format!("weights: compiled-in (WEIGHTS region rejected: {reason}");
        assert!(run.output.contains(&expected), "expected `{expected}`:\n{}", run.output);
        assert_bit_exact(&run, &compiled_in, "m4f");
    }
}
