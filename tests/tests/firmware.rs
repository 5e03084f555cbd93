//! The firmware under QEMU gives exactly what infer-core computes on the host, for the
//! compiled-in blob and for blobs flashed into its WEIGHTS region, with unaligned accesses
//! trapping during decoding and inference; damaged blobs are refused, and a firmware built with
//! a public key takes only blobs signed with its key, not rolled back.
//!
//! Needs `qemu-system-arm` and the `thumbv7em-none-eabihf` target. Without them the tests say
//! so and pass, except under CI (`CI=true`), where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
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

/// The start of the WEIGHTS region in `firmware-example/memory.x`.
const WEIGHTS_ADDR: u32 = 0x003F_0000;
/// The test images the firmware embeds (`firmware-example/build.rs`).
const EMBEDDED_IMAGES: usize = 128;
/// The lowest security counter the signed firmware accepts.
const SECURITY_COUNTER: u32 = 5;

/// The key the signed firmware trusts.
fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-example")
}

/// A file of `tests/fixtures`.
fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)).unwrap()
}

/// Builds the firmware once; `None` (with the reason printed) where the tools are missing.
fn firmware() -> Option<&'static Path> {
    static ELF: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = ELF.get_or_init(|| build(&["--bins", "--examples"], "target", &[]));
    available(built)
}

/// The firmware built with feature `signed`, trusting [`signing_key`] from counter
/// [`SECURITY_COUNTER`] on.
fn signed_firmware() -> Option<&'static Path> {
    static ELF: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = ELF.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("firmware-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let public_key = signing::write_key_pair(&signing_key(), &dir.join("key.pem")).unwrap();
        let env = [
            ("FIRMWARE_PUBLIC_KEY", public_key.display().to_string()),
            ("FIRMWARE_SECURITY_COUNTER", SECURITY_COUNTER.to_string()),
        ];
        let built = build(&["--bins", "--features", "signed"], "target/signed", &env);
        let _ = std::fs::remove_dir_all(&dir);
        built
    });
    available(built)
}

/// Runs `cargo build --release` for the firmware with `args` into `target_dir`.
fn build(args: &[&str], target_dir: &str, env: &[(&str, String)]) -> Result<PathBuf, String> {
    let qemu = Command::new("qemu-system-arm").arg("--version").output();
    if !qemu.is_ok_and(|o| o.status.success()) {
        return Err("qemu-system-arm is not installed (apt-get install qemu-system-arm)".into());
    }
    let output = Command::new("cargo")
        .args(["build", "--release", "--target-dir", target_dir])
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(firmware_dir())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("target may not be installed") {
        return Err("the thumbv7em-none-eabihf target is missing \
                    (rustup target add thumbv7em-none-eabihf)"
            .into());
    }
    assert!(output.status.success(), "firmware build failed:\n{stderr}");
    Ok(firmware_dir().join(target_dir).join("thumbv7em-none-eabihf/release/firmware-example"))
}

fn available(built: &'static Result<PathBuf, String>) -> Option<&'static Path> {
    match built {
        Ok(elf) => Some(elf),
        Err(reason) => {
            skip::skip(reason);
            None
        }
    }
}

/// What one firmware run printed.
struct Run {
    success: bool,
    output: String,
    predictions: Vec<usize>,
    digest: u32,
}

/// Runs the firmware with the runner command of `.cargo/config.toml`, optionally with `blob`
/// loaded at the WEIGHTS region as `-device loader` would flash it.
fn run_firmware(elf: &Path, blob: Option<&[u8]>) -> Run {
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
    let output = command.output().unwrap();
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
    Run { success: output.status.success(), output: text, predictions, digest }
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

fn assert_bit_exact(run: &Run, blob: &[u8]) {
    assert!(run.success, "firmware failed:\n{}", run.output);
    let (predictions, digest) = on_host(blob);
    assert_eq!(run.predictions, predictions, "{}", run.output);
    assert_eq!(
        run.digest, digest,
        "logit bits differ between x86_64 and Cortex-M4:\n{}",
        run.output
    );
}

#[test]
fn the_readme_embedding_example_runs_and_is_the_readme_text() {
    let Some(elf) = firmware() else { return };
    let example = elf.parent().unwrap().join("examples/embed");
    let run = run_firmware(&example, None);
    assert!(run.success && run.output.starts_with("digit 1 (p = 0.9"), "{}", run.output);
    let source = std::fs::read_to_string(firmware_dir().join("examples/embed.rs")).unwrap();
    let readme = std::fs::read_to_string(firmware_dir().join("../README.md")).unwrap();
    assert!(
        readme.contains(&source),
        "README.md must show firmware-example/examples/embed.rs verbatim"
    );
}

#[test]
fn compiled_in_blob_runs_bit_exact_with_the_host() {
    let Some(elf) = firmware() else { return };
    let run = run_firmware(elf, None);
    assert!(
        run.output.contains("weights: compiled-in (WEIGHTS region is empty)"),
        "{}",
        run.output
    );
    assert_bit_exact(&run, &fixture("model.int8.postcard"));
    assert!(run.output.contains("instructions per inference: "), "{}", run.output);
    assert!(run.output.contains("stack high-water per inference: "), "{}", run.output);
}

#[test]
fn flashed_blobs_replace_the_compiled_in_one_bit_exact() {
    let Some(elf) = firmware() else { return };
    let int8 = quantize(&short_run().model).to_blob().unwrap();
    let f32 = short_run().model.to_blob().unwrap();
    for blob in [int8, f32] {
        let run = run_firmware(elf, Some(&blob));
        assert!(run.output.contains("weights: flashed"), "{}", run.output);
        assert_bit_exact(&run, &blob);
    }
}

#[test]
fn a_damaged_flashed_blob_is_refused_and_the_compiled_in_one_used() {
    let Some(elf) = firmware() else { return };
    let mut blob = quantize(&short_run().model).to_blob().unwrap();
    blob[100] ^= 0x01;
    let run = run_firmware(elf, Some(&blob));
    assert!(
        run.output.contains("weights: compiled-in (WEIGHTS region rejected: blob CRC-32 mismatch"),
        "{}",
        run.output
    );
    assert_bit_exact(&run, &fixture("model.int8.postcard"));

    let run = run_firmware(elf, Some(b"ICBL\x07 a blob from the future"));
    assert!(
        run.output.contains("rejected: blob format version 7 is not supported"),
        "{}",
        run.output
    );
}

/// The other tests pass with the trap set, so they show that decoding and inference of version 2
/// blobs make only aligned accesses; this one shows that the trap is set. A version 1 blob's
/// arrays are not aligned, so the firmware faults reading its float scales, and says so.
#[test]
fn an_unaligned_access_fails_the_run_loudly() {
    let Some(elf) = firmware() else { return };
    let run = run_firmware(elf, Some(&fixture("model.v1.int8.postcard")));
    assert!(!run.success, "{}", run.output);
    assert!(run.output.contains("error: unaligned access at pc 0x"), "{}", run.output);
}

#[test]
fn signed_firmware_takes_a_signed_blob_bit_exact() {
    let Some(elf) = signed_firmware() else { return };
    let blob = quantize(&short_run().model).to_blob().unwrap();
    let run = run_firmware(elf, Some(&seal(&blob, SECURITY_COUNTER, &signing_key())));
    assert!(
        run.output.contains("weights: flashed, signature verified, security counter 5 (minimum 5)"),
        "{}",
        run.output
    );
    assert_bit_exact(&run, &blob);
}

#[test]
fn signed_firmware_refuses_unsigned_forged_tampered_and_rolled_back_blobs() {
    let Some(elf) = signed_firmware() else { return };
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
        let run = run_firmware(elf, Some(&flashed));
        let expected = format!("weights: compiled-in (WEIGHTS region rejected: {reason}");
        assert!(run.output.contains(&expected), "expected `{expected}`:\n{}", run.output);
        assert_bit_exact(&run, &compiled_in);
    }
}
