//! `trainer export`: quantize a float model (a float safetensors, ours or PyTorch's, or a
//! PyTorch `torch.save` state dict) and write device files; a PyTorch file is also converted
//! to a float safetensors.

use std::io::{self, Write};
use std::path::PathBuf;

use trainer::calibration::Calibration;
use trainer::data::{self, Mnist};
use trainer::file_names::{FLOAT_FILE, INT4_FILE, INT8_FILE};
use trainer::model_file::{self, Kind};
use trainer::quantize;
use trainer::safetensors_file::{self as file, FORMAT_VERSION};

use crate::commands::device_files::{DeviceFiles, Signer, SigningArgs};
use crate::commands::{Output, list_files, write_files};

/// Options of `trainer export`.
#[derive(clap::Args)]
pub struct Args {
    /// Float safetensors, or PyTorch `torch.save(model.state_dict(), ...)` file (e.g.
    /// awesome_model.pkl), with `linear.weight` F32 [10, 784] and `linear.bias` F32 [10].
    pub model: PathBuf,
    /// Where to write model.int8.safetensors, model.int4.safetensors and the f32, int8 and int4
    /// blobs (and, from a PyTorch file, model.safetensors).
    #[arg(long, value_name = "DIR", default_value = "artifacts")]
    pub out_dir: PathBuf,
    /// MNIST directory whose training images calibrate the int4 rounding (default: the bundled
    /// copy); only the two training files are read.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Signing of the device blobs.
    #[command(flatten)]
    pub signing: SigningArgs,
}

pub fn run(args: &Args, output: Output) -> anyhow::Result<()> {
    let signer = Signer::from_args(&args.signing)?;
    let (float, mut metadata, kind) = model_file::read_float(&args.model)?;
    let train = Mnist::load_training(&args.data_dir.clone().unwrap_or_else(data::bundled_dir))?;
    let int8 = quantize::quantize(&float);
    let int4 = quantize::quantize_int4(&float, &Calibration::from_training(&train));
    metadata.insert("format_version".into(), FORMAT_VERSION.into());
    metadata.insert("exported_from".into(), args.model.display().to_string());
    let out = &args.out_dir;
    let device_files = DeviceFiles::new(&float, &int8, &int4, signer.as_ref())?;
    let mut files = vec![
        (out.join(INT8_FILE), file::int8_safetensors(&int8, &metadata)?),
        (out.join(INT4_FILE), file::int4_safetensors(&int4, &metadata)?),
    ];
    if kind == Kind::TorchStateDict {
        files.insert(0, (out.join(FLOAT_FILE), file::float_safetensors(&float, &metadata)?));
    }
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
