//! `trainer inspect`: what a blob or safetensors file holds.

use trainer::inspect;

use crate::{InspectArgs, Output};

pub fn run(args: &InspectArgs, output: Output) -> anyhow::Result<()> {
    let inspection = inspect::inspect(&args.file)?;
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
