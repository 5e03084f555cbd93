//! `trainer plot`: the pictures of a trained model, again, from its float safetensors.

use std::fs;

use anyhow::Context;
use trainer::data::Mnist;
use trainer::train::{Config, LogPoint};
use trainer::{eval, export, plot, quantize};

use super::train::{
    CONFUSION_PICTURE, CONFUSION_TITLE, TRAINING_PICTURE, WEIGHTS_PICTURE, training_title,
};
use crate::{Output, PlotArgs};

pub fn run(args: &PlotArgs, output: Output) -> anyhow::Result<()> {
    let (float, metadata) = export::read_float(&args.model)?;
    let int8_blob = quantize::quantize(&float).to_blob()?;
    let data = Mnist::load(&args.data_dir.clone().unwrap_or_else(trainer::data::bundled_dir))?;
    let evaluation = eval::evaluate(&infer_core::Model::from_blob(&int8_blob)?, &data.test)?;

    let out = &args.out_dir;
    fs::create_dir_all(out)
        .with_context(|| format!("cannot create output directory {}", out.display()))?;
    let mut files = vec![
        (out.join(WEIGHTS_PICTURE), plot::weights(&float)?),
        (out.join(CONFUSION_PICTURE), plot::confusion(&evaluation, CONFUSION_TITLE)?),
    ];
    // Files written by `train` carry their training history; a PyTorch export does not.
    let history: Option<Vec<LogPoint>> =
        metadata.get("history").and_then(|h| serde_json::from_str(h).ok());
    let title = metadata
        .get("training")
        .and_then(|t| serde_json::from_str::<Config>(t).ok())
        .map_or_else(|| args.model.display().to_string(), |config| training_title(&config));
    if let Some(history) = history.filter(|h| !h.is_empty()) {
        files.push((out.join(TRAINING_PICTURE), plot::training(&history, &title)?));
    }
    crate::commands::write_files(out, &files)?;
    if !output.quiet {
        for (path, _) in &files {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
