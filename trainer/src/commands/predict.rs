//! `trainer predict`: the top classes for a picture or a test image, as a device would say.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;
use infer_core::Model;
use serde::Serialize;
use trainer::data::{self, Mnist};
use trainer::digit::{self, Ink};
use trainer::eval;
use trainer::model_file::ModelFile;

use crate::commands::{MODEL_HINT, Output};
use crate::exit::InvalidInput;

/// Options of `trainer predict`.
#[derive(clap::Args)]
pub struct Args {
    /// A PNG or JPEG of one digit, any size.
    #[arg(required_unless_present = "index", conflicts_with = "index")]
    pub image: Option<PathBuf>,
    /// Classify MNIST test image N instead of a picture.
    #[arg(long, value_name = "N")]
    pub index: Option<usize>,
    /// The model: a blob (what the device runs), a safetensors or a PyTorch `torch.save` file.
    #[arg(long, default_value = "artifacts/model.int8.postcard")]
    pub model: PathBuf,
    /// Ink colour: `auto` inverts pictures with a light border (dark ink on paper).
    #[arg(long, value_enum, default_value_t = InkFlag::Auto)]
    pub ink: InkFlag,
    /// Dark ink on light paper: the same as `--ink dark`.
    #[arg(long, conflicts_with = "ink")]
    pub invert: bool,
    /// Classes to show.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub top: u8,
    /// MNIST directory for --index (default: the bundled copy).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `--ink`: [`Ink`] on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum InkFlag {
    /// Decide from the picture: a light border means dark ink on light paper.
    Auto,
    /// Light ink on a dark background, as in MNIST.
    Light,
    /// Dark ink on light paper: inverted first.
    Dark,
}

impl From<InkFlag> for Ink {
    fn from(flag: InkFlag) -> Self {
        match flag {
            InkFlag::Auto => Ink::Auto,
            InkFlag::Light => Ink::Light,
            InkFlag::Dark => Ink::Dark,
        }
    }
}

#[derive(Serialize)]
struct Report {
    input: String,
    inverted: bool,
    label: Option<u8>,
    class: usize,
    top: Vec<(usize, f32)>,
}

/// The 28x28 input, what it is, whether it was inverted, and its label if known.
struct Input {
    pixels: Vec<u8>,
    name: String,
    inverted: bool,
    label: Option<u8>,
}

pub fn run(args: &Args, output: Output) -> anyhow::Result<()> {
    let file = ModelFile::open(&args.model).context(MODEL_HINT)?;
    let blob = file.device_blob()?;
    let model = Model::from_blob(&blob)?;
    eval::check_shape(&model)?;
    let input = input(args)?;
    let prediction = model.predict(&input.pixels)?;
    let mut top: Vec<(usize, f32)> = prediction.probabilities.iter().copied().enumerate().collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(usize::from(args.top));

    let mut out = io::stdout().lock();
    if output.json {
        let Input { name: input, inverted, label, .. } = input;
        let report = Report { input, inverted, label, class: prediction.class, top };
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    if output.verbose {
        writeln!(out, "{}", ascii_art(&input.pixels))?;
    }
    let mut heading = input.name;
    if input.inverted {
        heading += " (dark ink on light paper: inverted)";
    }
    if let Some(label) = input.label {
        heading += &format!(", label {label}");
    }
    if !output.quiet {
        writeln!(out, "{heading}: {} by {}", prediction.class, args.model.display())?;
    }
    for (class, p) in top {
        let bar = "#".repeat((p * 30.0).round() as usize);
        writeln!(out, "  {class}  {:>6.2}%  {bar}", 100.0 * p)?;
    }
    Ok(())
}

/// The picture, prepared, or test image `--index`.
fn input(args: &Args) -> anyhow::Result<Input> {
    if let Some(path) = &args.image {
        let ink = if args.invert { Ink::Dark } else { args.ink.into() };
        let prepared = digit::load(path, ink)?;
        let name = path.display().to_string();
        return Ok(Input {
            pixels: prepared.pixels.to_vec(),
            name,
            inverted: prepared.inverted,
            label: None,
        });
    }
    let Some(index) = args.index else {
        anyhow::bail!(InvalidInput("give an IMAGE file or --index N".into()))
    };
    let data = Mnist::load(&args.data_dir.clone().unwrap_or_else(data::bundled_dir))?;
    anyhow::ensure!(
        index < data.test.len(),
        InvalidInput(format!("--index {index}: the test set has {} images", data.test.len()))
    );
    Ok(Input {
        pixels: data.test.image(index).to_vec(),
        name: format!("test image {index}"),
        inverted: false,
        label: Some(data.test.labels[index]),
    })
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
