//! `trainer eval`: accuracy, per-class accuracy and confusion matrix of any model file.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;
use infer_core::Model;
use serde::Serialize;
use trainer::data::{self, Mnist, Split};
use trainer::eval::{self, Evaluation};
use trainer::model_file::{Kind, ModelFile};

use crate::commands::{MODEL_HINT, Output};

/// Options of `trainer eval`.
#[derive(clap::Args)]
pub struct Args {
    /// A `.postcard` blob, a float, int8 or int4 `.safetensors`, or a PyTorch `torch.save`
    /// state dict (e.g. awesome_model.pkl).
    #[arg(default_value = "artifacts/model.int8.postcard")]
    pub model: PathBuf,
    /// Which labelled images.
    #[command(flatten)]
    pub data: DataArgs,
}

/// Which labelled images to evaluate on.
#[derive(clap::Args)]
pub struct DataArgs {
    /// MNIST directory (default: the bundled copy).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Which MNIST split.
    #[arg(long, value_enum, default_value_t = SplitName::Test)]
    pub split: SplitName,
    /// Any IDX images file (raw or .gz) instead of MNIST; needs --labels.
    #[arg(long, value_name = "FILE", requires = "labels")]
    pub images: Option<PathBuf>,
    /// The IDX labels file for --images.
    #[arg(long, value_name = "FILE", requires = "images")]
    pub labels: Option<PathBuf>,
}

/// An MNIST split.
#[derive(Clone, Copy, ValueEnum)]
pub enum SplitName {
    /// 10,000 test images.
    Test,
    /// 60,000 training images.
    Train,
}

impl DataArgs {
    /// The images and labels, and a description of them.
    pub fn load(&self) -> anyhow::Result<(Split, String)> {
        if let (Some(images), Some(labels)) = (&self.images, &self.labels) {
            let (split, _) = Split::load(images, labels)?;
            return Ok((split, images.display().to_string()));
        }
        let mnist = Mnist::load(&self.data_dir.clone().unwrap_or_else(data::bundled_dir))?;
        Ok(match self.split {
            SplitName::Test => (mnist.test, "the MNIST test set (10,000 images)".into()),
            SplitName::Train => (mnist.train, "the MNIST training set (60,000 images)".into()),
        })
    }
}

#[derive(Serialize)]
struct Report<'a> {
    model: String,
    kind: Kind,
    data: String,
    accuracy: f64,
    per_class_accuracy: Vec<f64>,
    #[serde(flatten)]
    evaluation: &'a Evaluation,
}

pub fn run(args: &Args, output: Output) -> anyhow::Result<()> {
    let file = ModelFile::open(&args.model).context(MODEL_HINT)?;
    let blob = file.device_blob()?;
    let model = Model::from_blob(&blob)?;
    let (split, data) = args.data.load()?;
    let evaluation = eval::evaluate(&model, &split)?;
    let mut out = io::stdout().lock();
    if output.json {
        let report = Report {
            model: args.model.display().to_string(),
            kind: file.kind(),
            data,
            accuracy: evaluation.percent(),
            per_class_accuracy: (0..10).map(|c| evaluation.class_percent(c)).collect(),
            evaluation: &evaluation,
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else if output.quiet {
        writeln!(out, "{:.2}%", evaluation.percent())?;
    } else {
        writeln!(
            out,
            "{} ({}, run by infer-core) on {data}:\n",
            args.model.display(),
            file.kind()
        )?;
        writeln!(out, "{evaluation}")?;
    }
    Ok(())
}
