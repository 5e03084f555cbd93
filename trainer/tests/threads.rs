//! A seed gives the same files on every machine: `train` runs candle on one thread whatever
//! `RAYON_NUM_THREADS` allows, so the core count cannot change a single bit.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

#[path = "../../tests/support/dir.rs"]
mod dir;

use dir::contents;

/// The files of a one-epoch run with `RAYON_NUM_THREADS` set to `threads` (`None`: unset).
fn train(out: &Path, threads: Option<&str>) -> BTreeMap<String, Vec<u8>> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trainer"));
    command.args(["train", "--epochs", "1", "--seed", "3", "-q", "--out-dir"]).arg(out);
    match threads {
        Some(threads) => command.env("RAYON_NUM_THREADS", threads),
        None => command.env_remove("RAYON_NUM_THREADS"),
    };
    let run = command.output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    contents(out)
}

#[test]
fn the_same_seed_gives_the_same_files_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let one = train(&dir.path().join("1"), Some("1"));
    assert_eq!(one.len(), 9, "{:?}", one.keys());
    for threads in [Some("2"), Some("4"), None] {
        let name = threads.unwrap_or("unset");
        let other = train(&dir.path().join(name), threads);
        assert_eq!(other.keys().collect::<Vec<_>>(), one.keys().collect::<Vec<_>>());
        for (file, bytes) in &other {
            assert!(*bytes == one[file], "{file} differs with RAYON_NUM_THREADS={name}");
        }
    }
}
