//! A directory's files, to compare what two runs wrote byte for byte.
//!
//! Included by `#[path]` in the test files that compare directories: the trainer's tests
//! cannot depend on the `tests` crate.

use std::collections::BTreeMap;
use std::path::Path;

/// Every file in `dir` (temporary ones included), by name.
pub fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(path).unwrap())
        })
        .collect()
}
