//! One module per subcommand, each with its own arguments, and what they share.

pub mod device_files;
pub mod eval;
pub mod export;
pub mod inspect;
pub mod keygen;
pub mod plot;
pub mod predict;
pub mod push;
pub mod train;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::interrupt::{self, Interrupted};

/// How much to print, and in which form.
#[derive(Clone, Copy)]
pub struct Output {
    /// JSON instead of text.
    pub json: bool,
    /// Results only.
    pub quiet: bool,
    /// Extra detail.
    pub verbose: bool,
}

/// What to do when no model file can be read.
pub const MODEL_HINT: &str = "cannot use the model (train one with `trainer train`, or give a .postcard, .safetensors or PyTorch `torch.save` file)";

/// Writes `files` into `out` (created if needed) all or nothing: staged under temporary names,
/// then renamed into place unless Ctrl-C came meanwhile (then nothing changes).
pub fn write_files(out: &Path, files: &[(PathBuf, Vec<u8>)]) -> anyhow::Result<()> {
    fs::create_dir_all(out)
        .with_context(|| format!("cannot create output directory {}", out.display()))?;
    let staged = trainer::atomic_write::stage(files)?;
    if interrupt::requested() {
        drop(staged);
        let kept = format!("nothing written, the files in {} are untouched", out.display());
        return Err(Interrupted(kept).into());
    }
    Ok(staged.commit()?)
}

/// The files written, by name and size, as `train` and `export` report them.
pub fn list_files(out: &mut impl Write, files: &[(PathBuf, Vec<u8>)]) -> io::Result<()> {
    for (path, bytes) in files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        writeln!(out, "  {name:<24}{:>8} bytes", bytes.len())?;
    }
    Ok(())
}
