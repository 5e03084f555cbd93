//! Replays the blob fuzz target's seeds and regressions (`fuzz/seeds/blob`,
//! `fuzz/regressions/blob`) through the fuzz target's own checks, `fuzz/checks/blob.rs`.

#[path = "../../fuzz/checks/blob.rs"]
mod blob;

use std::fs;
use std::path::Path;

#[test]
fn blob_seeds_and_regressions_pass_the_fuzz_checks() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for dir in ["seeds", "regressions"].map(|d| fuzz.join(d).join("blob")) {
        let mut files: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files.iter().filter(|f| f.extension().is_none_or(|e| e != "md")) {
            eprintln!("replaying {}", file.display());
            blob::check(&fs::read(file).unwrap());
            replayed += 1;
        }
    }
    assert!(replayed >= 5, "the seeds are missing");
}
