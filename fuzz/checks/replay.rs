//! Replays a fuzz target's committed inputs (`fuzz/seeds/<target>`, `fuzz/regressions/<target>`)
//! through its checks: shared, by `#[path]`, by the replay tests of infer-core and trainer.

use std::fs;
use std::path::Path;

/// Runs `check` on every committed input of fuzz target `target`; returns how many there were.
pub fn replay(target: &str, check: fn(&[u8])) -> usize {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for dir in ["seeds", "regressions"].map(|d| fuzz.join(d).join(target)) {
        let mut files: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files.iter().filter(|f| f.extension().is_none_or(|e| e != "md")) {
            eprintln!("replaying {}", file.display());
            check(&fs::read(file).unwrap());
            replayed += 1;
        }
    }
    replayed
}
