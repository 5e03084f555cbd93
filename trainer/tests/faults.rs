//! Faults during `train`: Ctrl-C, a full disk, an unwritable or missing directory. Each gives
//! a clear error and a non-zero exit, and leaves the previous files exactly as they were, with
//! no temporary files behind.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

#[path = "../../tests/support/dir.rs"]
mod dir;
#[path = "../../tests/support/skip.rs"]
mod skip;

use dir::contents;

fn trainer() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trainer"));
    command.env("RAYON_NUM_THREADS", "1");
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The committed seed-0 model files (the files of tests/fixtures, not its subdirectories), as
/// "previous artifacts".
fn previous_artifacts(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(committed).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    contents(dir)
}

#[test]
fn ctrl_c_keeps_the_previous_files_and_resume_ends_as_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let before = previous_artifacts(&out);
    let epochs = "6";

    let mut child = trainer()
        .args(["train", "--epochs", epochs, "--out-dir", out.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once training is under way: after the first epoch's log line.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().starts_with("epoch  1/6"));
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let stopped = child.wait_with_output().unwrap();
    assert_eq!(stopped.status.code(), Some(130), "{}", stderr(&stopped));
    assert!(stderr(&stopped).contains("are untouched"), "{}", stderr(&stopped));
    assert!(stderr(&stopped).contains("--resume"), "{}", stderr(&stopped));
    let mut after = contents(&out);
    assert!(
        after.remove("checkpoint.safetensors").is_some(),
        "no checkpoint in {:?}",
        after.keys()
    );
    assert_eq!(after, before, "previous files changed or temporary files left");

    let resumed = trainer()
        .args(["train", "--resume", "-q", "--out-dir", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(!out.join("checkpoint.safetensors").exists(), "a finished run removes its checkpoint");

    let fresh = dir.path().join("fresh");
    let run = trainer()
        .args(["train", "--epochs", epochs, "-q", "--out-dir", fresh.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    for file in ["model.int8.postcard", "model.f32.postcard"] {
        assert_eq!(
            std::fs::read(out.join(file)).unwrap(),
            std::fs::read(fresh.join(file)).unwrap(),
            "{file}"
        );
    }
    let float =
        |d: &Path| trainer::safetensors_file::read_float(&d.join("model.safetensors")).unwrap().0;
    assert_eq!(float(&out), float(&fresh));
}

#[test]
fn resume_without_a_checkpoint_or_with_other_settings_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = trainer()
        .args(["train", "--resume", "--out-dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(74), "{}", stderr(&run));
    assert!(stderr(&run).contains("cannot resume"), "{}", stderr(&run));
    let run = trainer().args(["train", "--resume", "--epochs", "3"]).output().unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
}

#[test]
fn missing_data_and_an_unusable_output_directory_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let missing = dir.path().join("no-such-dir");
    let run = trainer()
        .args([
            "train",
            "--data-dir",
            missing.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(65), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("not found in") && stderr(&run).contains("--data-dir"),
        "{}",
        stderr(&run)
    );
    assert!(!out.exists(), "nothing is created for a run that cannot start");

    // A file where a directory should be: not writable whoever runs the test (even root).
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let run = trainer()
        .args(["train", "--epochs", "1", "-q", "--out-dir", file.join("out").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(74), "{}", stderr(&run));
    assert!(stderr(&run).contains("cannot create output directory"), "{}", stderr(&run));
    assert_eq!(std::fs::read(&file).unwrap(), b"not a directory");
}

/// Runs `script` (sh, with $1 = a fresh directory and $2 = the trainer) in a private mount
/// namespace, where it may mount a tmpfs: as root, or else in a user namespace where the kernel
/// allows them. `None` (the test is skipped, see [`skip`]) where neither can mount.
fn in_mount_namespace(script: &str, dir: &Path) -> Option<Output> {
    std::fs::create_dir_all(dir).unwrap();
    let dir = dir.to_str().unwrap();
    let can_mount = |unshare: &[&str]| {
        let probe = "mount -t tmpfs -o size=4k none \"$1\"";
        let run =
            Command::new("unshare").args(unshare).args(["sh", "-c", probe, "sh", dir]).output();
        run.is_ok_and(|o| o.status.success())
    };
    let Some(unshare) = [&["-m"][..], &["-U", "-r", "-m"]].into_iter().find(|u| can_mount(u))
    else {
        skip::skip(
            "cannot mount a tmpfs (needs root or user namespaces): disk-full and read-only tests",
        );
        return None;
    };
    let output = Command::new("unshare")
        .args(unshare)
        .args(["sh", "-c", script, "sh", dir, env!("CARGO_BIN_EXE_trainer")])
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    Some(output)
}

#[test]
fn a_full_disk_fails_with_74_and_keeps_the_previous_files() {
    let dir = tempfile::tempdir().unwrap();
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    // 160 KiB: room for the previous files (134 KB), not for a new set beside them (250 KB).
    let script = format!(
        "mount -t tmpfs -o size=160k none \"$1\" && find {} -maxdepth 1 -type f -exec cp -t \"$1\" {{}} + && sha256sum \"$1\"/* > \"$1.before\" \
         && \"$2\" train --epochs 1 -q --out-dir \"$1\"; echo \"exit $?\"; \
         sha256sum -c --quiet \"$1.before\" && echo unchanged; ls -A \"$1\"",
        committed.display()
    );
    let Some(output) = in_mount_namespace(&script, &dir.path().join("disk")) else { return };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("exit 74"), "{stdout}\n{}", stderr(&output));
    assert!(stderr(&output).contains("No space left on device"), "{}", stderr(&output));
    assert!(stdout.contains("unchanged"), "{stdout}");
    let listing: Vec<&str> = stdout.lines().skip_while(|l| *l != "unchanged").skip(1).collect();
    let mut expected: Vec<String> = std::fs::read_dir(&committed)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    expected.sort();
    assert_eq!(listing, expected, "temporary files left behind");
}

#[test]
fn a_read_only_output_directory_fails_with_74_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let script = "mount -t tmpfs -o size=1m none \"$1\" && echo previous > \"$1/model.safetensors\" \
                  && mount -o remount,ro \"$1\" && \"$2\" train --epochs 1 -q --out-dir \"$1\"; \
                  echo \"exit $?\"; cat \"$1/model.safetensors\"; ls -A \"$1\"";
    let Some(output) = in_mount_namespace(script, &dir.path().join("ro")) else { return };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("exit 74"), "{stdout}\n{}", stderr(&output));
    assert!(stderr(&output).contains("Read-only file system"), "{}", stderr(&output));
    assert!(stdout.ends_with("previous\nmodel.safetensors\n"), "{stdout}");
}

#[test]
fn ctrl_c_during_export_writes_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let before = previous_artifacts(&out);
    // The model comes through a FIFO, so the export is surely under way when Ctrl-C comes: it
    // waits for the model's bytes, gets the signal, then finishes its work but writes nothing.
    let fifo = dir.path().join("model.safetensors");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let child = trainer()
        .args(["export", fifo.to_str().unwrap(), "--out-dir", out.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    std::fs::write(&fifo, std::fs::read(out.join("model.safetensors")).unwrap()).unwrap();
    let stopped = child.wait_with_output().unwrap();
    assert_eq!(stopped.status.code(), Some(130), "{}", stderr(&stopped));
    assert!(stderr(&stopped).contains("nothing written"), "{}", stderr(&stopped));
    assert_eq!(contents(&out), before, "previous files changed or temporary files left");
}
