//! `trainer predict`: the top classes for a picture or a test image, as a device would say.

use anyhow::Context;
use infer_core::Model;
use serde::Serialize;
use trainer::data::Mnist;
use trainer::digit;
use trainer::model_file::ModelFile;

use crate::{Output, PredictArgs};

#[derive(Serialize)]
struct Report {
    input: String,
    inverted: bool,
    label: Option<u8>,
    class: usize,
    top: Vec<(usize, f32)>,
}

pub fn run(args: &PredictArgs, output: Output) -> anyhow::Result<()> {
    let file = ModelFile::open(&args.model).context(crate::MODEL_HINT)?;
    let blob = file.device_blob()?;
    let model = Model::from_blob(&blob)?;

    let (pixels, input, inverted, label) = match (&args.image, args.index) {
        (Some(path), _) => {
            let ink = if args.invert { digit::Ink::Dark } else { args.ink };
            let prepared = digit::load(path, ink)?;
            (prepared.pixels.to_vec(), path.display().to_string(), prepared.inverted, None)
        }
        (None, Some(index)) => {
            let data =
                Mnist::load(&args.data_dir.clone().unwrap_or_else(trainer::data::bundled_dir))?;
            anyhow::ensure!(
                index < data.test.len(),
                crate::InvalidInput(format!(
                    "--index {index}: the test set has {} images",
                    data.test.len()
                ))
            );
            (
                data.test.image(index).to_vec(),
                format!("test image {index}"),
                false,
                Some(data.test.labels[index]),
            )
        }
        (None, None) => {
            anyhow::bail!(crate::InvalidInput("give an IMAGE file or --index N".into()))
        }
    };
    let prediction = model.predict(&pixels)?;
    let mut top: Vec<(usize, f32)> = prediction.probabilities.iter().copied().enumerate().collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(usize::from(args.top));

    if output.json {
        let report = Report { input, inverted, label, class: prediction.class, top };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if output.verbose {
        println!("{}", ascii_art(&pixels));
    }
    let mut heading = input;
    if inverted {
        heading += " (dark ink on light paper: inverted)";
    }
    if let Some(label) = label {
        heading += &format!(", label {label}");
    }
    if !output.quiet {
        println!("{heading}: {} by {}", prediction.class, args.model.display());
    }
    for (class, p) in top {
        let bar = "#".repeat((p * 30.0).round() as usize);
        println!("  {class}  {:>6.2}%  {bar}", 100.0 * p);
    }
    Ok(())
}

/// The 28x28 input in shades of ASCII, as the network sees it.
fn ascii_art(pixels: &[u8]) -> String {
    const SHADES: &[u8] = b" .:-=+*#%@";
    pixels
        .chunks(28)
        .map(|row| {
            row.iter().map(|&p| SHADES[usize::from(p) * (SHADES.len() - 1) / 255] as char).collect()
        })
        .collect::<Vec<String>>()
        .join("\n")
}
