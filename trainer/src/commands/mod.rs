//! One module per subcommand.

pub mod eval;
pub mod export;
pub mod inspect;
pub mod keygen;
pub mod plot;
pub mod predict;
pub mod sign;
pub mod train;

use std::path::{Path, PathBuf};

use crate::interrupt::{self, Interrupted};

/// Writes `files` into `out` all or nothing: staged under temporary names, then renamed into
/// place unless Ctrl-C came meanwhile (then nothing changes).
pub fn write_files(out: &Path, files: &[(PathBuf, Vec<u8>)]) -> anyhow::Result<()> {
    let staged = trainer::export::stage(files)?;
    if interrupt::requested() {
        drop(staged);
        let kept = format!("nothing written, the files in {} are untouched", out.display());
        return Err(Interrupted(kept).into());
    }
    Ok(staged.commit()?)
}
