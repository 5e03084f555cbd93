//! `trainer export`: quantize a float safetensors (ours or PyTorch's) and write device files.

use std::io::{self, Write};
use std::path::PathBuf;

use trainer::file_names::INT8_FILE;
use trainer::quantize;
use trainer::safetensors_file::{self as file, FORMAT_VERSION};

use crate::commands::device_files::{DeviceFiles, Signer, SigningArgs};
use crate::commands::{Output, list_files, write_files};

/// Options of `trainer export`.
#[derive(clap::Args)]
pub struct Args {
    /// Float safetensors with `linear.weight` F32 [10, 784] and `linear.bias` F32 [10].
    pub model: PathBuf,
    /// Where to write model.int8.safetensors, model.f32.postcard and model.int8.postcard.
    #[arg(long, value_name = "DIR", default_value = "artifacts")]
    pub out_dir: PathBuf,
    /// Signing of the device blobs.
    #[command(flatten)]
    pub signing: SigningArgs,
}

pub fn run(args: &Args, output: Output) -> anyhow::Result<()> {
    let signer = Signer::from_args(&args.signing)?;
    let (float, mut metadata) = file::read_float(&args.model)?;
    let int8 = quantize::quantize(&float);
    metadata.insert("format_version".into(), FORMAT_VERSION.into());
    metadata.insert("exported_from".into(), args.model.display().to_string());
    let out = &args.out_dir;
    let device_files = DeviceFiles::new(&float, &int8, signer.as_ref())?;
    let mut files = vec![(out.join(INT8_FILE), file::int8_safetensors(&int8, &metadata)?)];
    files.extend(device_files.into_files(out));
    write_files(out, &files)?;
    if !output.quiet {
        let mut out = io::stdout().lock();
        writeln!(
            out,
            "Exported {} (float, 784 -> 10) to {}:",
            args.model.display(),
            args.out_dir.display()
        )?;
        list_files(&mut out, &files)?;
    }
    Ok(())
}
