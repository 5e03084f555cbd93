//! The `trainer` binary: a diverging run fails clearly and writes nothing.

use std::process::Command;

#[test]
fn a_diverging_run_fails_and_keeps_the_previous_files() {
    let dir = tempfile::tempdir().unwrap();
    let previous = dir.path().join("model.int8.postcard");
    std::fs::write(&previous, b"previous").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args([
            "train",
            "--preset",
            "tutorial",
            "--epochs",
            "1",
            "--learning-rate",
            "1e37",
            "--quiet",
        ])
        .arg("--out-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("diverged") && stderr.contains("lower the learning rate"), "{stderr}");
    assert_eq!(std::fs::read(&previous).unwrap(), b"previous");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn cuda_without_the_feature_says_how_to_get_it() {
    if cfg!(feature = "cuda") {
        return;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["train", "--device", "cuda", "--epochs", "1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--features cuda"));
}
