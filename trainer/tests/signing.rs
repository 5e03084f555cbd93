//! `keygen`, `--signing-key`/`--counter` and `inspect --public-key`, end to end on the
//! committed seed-0 model.

use std::path::Path;
use std::process::{Command, Output};

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer")).args(args).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `trainer export` of the committed model into `out`, signed with `key` at `counter`.
fn export_signed(out: &Path, key: &Path, counter: &str) -> Output {
    trainer(&[
        "export",
        MODEL,
        "--out-dir",
        path(out),
        "--signing-key",
        path(key),
        "--counter",
        counter,
    ])
}

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/model.safetensors");

#[test]
fn keygen_export_signed_inspect_verified() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("release.pem");
    let keygen = trainer(&["keygen", "--out", path(&key), "-q"]);
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    let public_hex = String::from_utf8(keygen.stdout).unwrap().trim().to_string();
    let public_key = dir.path().join("release.pub.pem");

    let out = dir.path().join("out");
    let export = export_signed(&out, &key, "9");
    assert!(export.status.success(), "{}", stderr(&export));
    let mut public = [0u8; 32];
    for (i, byte) in public.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&public_hex[2 * i..2 * i + 2], 16).unwrap();
    }
    // What a device does with each: verified, counter 9, the same blob inside.
    for scheme in ["f32", "int8", "int4"] {
        let plain = std::fs::read(out.join(format!("model.{scheme}.postcard"))).unwrap();
        let signed = std::fs::read(out.join(format!("model.{scheme}.signed"))).unwrap();
        let verified = infer_core::signed::open(&signed, &public, 9).unwrap();
        assert_eq!((verified.counter, verified.blob), (9, &plain[..]), "{scheme}");
    }

    let inspect = trainer(&[
        "inspect",
        path(&out.join("model.int8.signed")),
        "--public-key",
        path(&public_key),
        "--json",
    ]);
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(json["kind"], "signed-blob");
    assert_eq!(json["counter"], 9);
    assert_eq!(json["signature"], "verified (Ed25519)");

    // Signed files are models like any other: eval runs the blob inside.
    let eval = trainer(&["eval", path(&out.join("model.int8.signed")), "--json"]);
    let plain_eval = trainer(&["eval", path(&out.join("model.int8.postcard")), "--json"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let accuracy = |o: &Output| {
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["accuracy"].clone()
    };
    assert_eq!(accuracy(&eval), accuracy(&plain_eval));
}

#[test]
fn another_key_or_a_flipped_bit_fails_inspection_with_exit_65() {
    let dir = tempfile::tempdir().unwrap();
    let (key, other) = (dir.path().join("a.pem"), dir.path().join("b.pem"));
    for k in [&key, &other] {
        assert!(trainer(&["keygen", "--out", path(k), "-q"]).status.success());
    }
    let out = dir.path().join("out");
    let export = export_signed(&out, &key, "1");
    assert!(export.status.success(), "{}", stderr(&export));
    let signed = out.join("model.int8.signed");

    let wrong =
        trainer(&["inspect", path(&signed), "--public-key", path(&dir.path().join("b.pub.pem"))]);
    assert_eq!(wrong.status.code(), Some(65), "{}", stderr(&wrong));
    assert!(stderr(&wrong).contains("signature check failed"), "{}", stderr(&wrong));

    let mut bytes = std::fs::read(&signed).unwrap();
    bytes[500] ^= 0x10;
    let tampered = dir.path().join("tampered.signed");
    std::fs::write(&tampered, bytes).unwrap();
    let run =
        trainer(&["inspect", path(&tampered), "--public-key", path(&dir.path().join("a.pub.pem"))]);
    assert_eq!(run.status.code(), Some(65), "{}", stderr(&run));
}

#[test]
fn key_mistakes_are_clear_errors_and_overwrite_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    assert!(trainer(&["keygen", "--out", path(&key), "-q"]).status.success());
    let before = std::fs::read(&key).unwrap();
    let again = trainer(&["keygen", "--out", path(&key)]);
    assert_eq!(again.status.code(), Some(65), "{}", stderr(&again));
    assert!(stderr(&again).contains("already exists"), "{}", stderr(&again));
    assert_eq!(std::fs::read(&key).unwrap(), before);

    // The public key given where the private one belongs: refused before any work.
    let out = dir.path().join("out");
    let public = dir.path().join("k.pub.pem");
    let run = trainer(&[
        "export",
        MODEL,
        "--out-dir",
        path(&out),
        "--signing-key",
        path(&public),
        "--counter",
        "1",
    ]);
    assert_eq!(run.status.code(), Some(65), "{}", stderr(&run));
    assert!(stderr(&run).contains("is not an Ed25519 private key"), "{}", stderr(&run));
    assert!(!out.exists());

    // A counter is required with a key, so no release goes out without one.
    let run = trainer(&["export", MODEL, "--out-dir", path(&out), "--signing-key", path(&key)]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
}
