//! `trainer inspect`: what a blob or safetensors file holds.

use trainer::{inspect, signing};

use crate::{InspectArgs, Output};

pub fn run(args: &InspectArgs, output: Output) -> anyhow::Result<()> {
    let public_key = args.public_key.as_deref().map(signing::read_public_key).transpose()?;
    let inspection = inspect::inspect(&args.file, public_key.as_ref())?;
    if output.json {
        println!("{}", serde_json::to_string_pretty(&inspection)?);
    } else {
        println!("{inspection}");
    }
    if !inspection.valid {
        anyhow::bail!(crate::InvalidInput(format!(
            "{} would be rejected by a device: {}",
            args.file.display(),
            inspection.status
        )));
    }
    Ok(())
}
