//! `trainer plot`: the pictures of a trained model, as `train` draws them.

use std::io::{self, Write};
use std::path::PathBuf;

use trainer::data::{self, Mnist};
use trainer::file_names::{CONFUSION_PICTURE, TRAINING_PICTURE, WEIGHTS_PICTURE};
use trainer::history::LogPoint;
use trainer::settings::Config;
use trainer::{eval, model_file, plot, quantize};

use crate::commands::{Output, write_files};

/// Options of `trainer plot`.
#[derive(clap::Args)]
pub struct Args {
    /// Float safetensors written by `train` (with its training history), or any float model
    /// `export` takes (e.g. a PyTorch state dict).
    #[arg(long, default_value = "artifacts/model.safetensors")]
    pub model: PathBuf,
    /// Where to write weights.png, confusion.png and training.png.
    #[arg(long, value_name = "DIR", default_value = "artifacts")]
    pub out_dir: PathBuf,
    /// MNIST directory for the confusion matrix (default: the bundled copy).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

pub fn run(args: &Args, output: Output) -> anyhow::Result<()> {
    let (float, metadata, _) = model_file::read_float(&args.model)?;
    let int8_blob = quantize::quantize(&float).to_blob()?;
    let data = Mnist::load(&args.data_dir.clone().unwrap_or_else(data::bundled_dir))?;
    let evaluation = eval::evaluate(&infer_core::Model::from_blob(&int8_blob)?, &data.test)?;

    let out = &args.out_dir;
    let mut files = vec![
        (out.join(WEIGHTS_PICTURE), plot::weights(&float)?),
        (out.join(CONFUSION_PICTURE), plot::confusion(&evaluation)?),
    ];
    // Files written by `train` carry their training history (older ones with seconds, which
    // are ignored); a PyTorch export does not.
    let history: Option<Vec<LogPoint>> =
        metadata.get("history").and_then(|h| serde_json::from_str(h).ok());
    let title = metadata
        .get("training")
        .and_then(|t| serde_json::from_str::<Config>(t).ok())
        .map_or_else(|| args.model.display().to_string(), |config| plot::training_title(&config));
    if let Some(history) = history.filter(|h| !h.is_empty()) {
        files.push((out.join(TRAINING_PICTURE), plot::training(&history, &title)?));
    }
    write_files(out, &files)?;
    if !output.quiet {
        let mut out = io::stdout().lock();
        for (path, _) in &files {
            writeln!(out, "wrote {}", path.display())?;
        }
    }
    Ok(())
}
