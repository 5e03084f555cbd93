//! `trainer eval`: accuracy, per-class accuracy and confusion matrix of any model file.

use anyhow::Context;
use infer_core::Model;
use serde::Serialize;
use trainer::eval::{self, Evaluation};
use trainer::model_file::{Kind, ModelFile};

use crate::{EvalArgs, Output};

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

pub fn run(args: &EvalArgs, output: Output) -> anyhow::Result<()> {
    let file = ModelFile::open(&args.model).context(crate::MODEL_HINT)?;
    let blob = file.device_blob()?;
    let model = Model::from_blob(&blob)?;
    let (split, data) = args.data.load()?;
    let evaluation = eval::evaluate(&model, &split)?;
    if output.json {
        let report = Report {
            model: args.model.display().to_string(),
            kind: file.kind(),
            data,
            accuracy: evaluation.percent(),
            per_class_accuracy: (0..10).map(|c| evaluation.class_percent(c)).collect(),
            evaluation: &evaluation,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if output.quiet {
        println!("{:.2}%", evaluation.percent());
    } else {
        println!("{} ({}, run by infer-core) on {data}:\n", args.model.display(), file.kind());
        println!("{evaluation}");
    }
    Ok(())
}
