//! Ctrl-C (and SIGTERM, SIGHUP): a request to stop cleanly, not an abrupt exit.
//!
//! The handler only sets a flag. Training checks it after every step and stops with a
//! checkpoint; writing checks it between staging the new files and renaming them into place,
//! so an interrupted run never leaves a mix of old and new files.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Catches the signals from now on. Fails only if another handler is already installed.
pub fn install() -> Result<(), ctrlc::Error> {
    ctrlc::set_handler(|| REQUESTED.store(true, Ordering::SeqCst))
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// The run was interrupted; the message says what was kept (exit code 130, as a shell reports
/// a process stopped by Ctrl-C).
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted: {}", self.0)
    }
}

impl std::error::Error for Interrupted {}
