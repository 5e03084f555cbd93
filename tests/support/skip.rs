//! Skipping a test that needs something this machine lacks (QEMU, a tmpfs): loudly, counted,
//! and never under CI, which installs everything the tests need.
//!
//! Included by `#[path]` in the test files that skip: the trainer's tests cannot depend on the
//! `tests` crate.

use std::io::Write;

/// Ends a test that cannot run here. With `CI=true` it fails the test instead. Elsewhere it
/// prints `SKIPPED: reason` and appends the reason to the file named by `TEST_SKIP_LOG` (if
/// set), which `.ci/run` counts: a skipped test is not reported as passed.
pub fn skip(reason: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("cannot run under CI=true: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
    if let Some(log) = std::env::var_os("TEST_SKIP_LOG") {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log);
        file.and_then(|mut f| writeln!(f, "{reason}")).expect("TEST_SKIP_LOG is writable");
    }
}
