//! `trainer inspect`: what a blob, safetensors or PyTorch file holds.

use std::io::{self, Write};
use std::path::PathBuf;

use trainer::{inspect, signing};

use crate::commands::Output;
use crate::exit::InvalidInput;

/// Options of `trainer inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// A `.postcard` blob, a `.signed` blob, a `.safetensors` file or a PyTorch `torch.save` file.
    pub file: PathBuf,
    /// Verify a signed blob's signature with this public key (SPKI PEM, from `trainer keygen`).
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
}

pub fn run(args: &Args, output: Output) -> anyhow::Result<()> {
    let public_key = args.public_key.as_deref().map(signing::read_public_key).transpose()?;
    let inspection = inspect::inspect(&args.file, public_key.as_ref())?;
    let mut out = io::stdout().lock();
    if output.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&inspection)?)?;
    } else {
        writeln!(out, "{inspection}")?;
    }
    if !inspection.valid {
        anyhow::bail!(InvalidInput(format!(
            "{} would be rejected by a device: {}",
            args.file.display(),
            inspection.status
        )));
    }
    Ok(())
}
