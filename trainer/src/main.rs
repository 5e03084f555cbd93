//! `trainer`: train, quantize, export, evaluate and inspect MNIST logistic regression.
//! See `trainer --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use trainer::data::{Mnist, Split};
use trainer::device::DeviceChoice;
use trainer::digit::Ink;
use trainer::train::Preset;

mod commands;
mod interrupt;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print machine-readable JSON (eval, predict, inspect).
    #[arg(long, global = true)]
    json: bool,
    /// Print less: only results.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print more (predict: the prepared 28x28 image).
    #[arg(short, long, global = true)]
    verbose: bool,
}

const EXIT_CODES: &str = "Exit codes: 0 success, 1 failure (e.g. training diverged), 2 usage error, \
                          65 invalid input (model, data, picture or key), 74 I/O error (e.g. disk \
                          full), 130 interrupted (previous files untouched).";

#[derive(Subcommand)]
enum Command {
    /// Train on MNIST, quantize to int8, and write the float, int8 and device files.
    #[command(after_help = "Examples:\n  trainer train\n  trainer train --preset tutorial\n  \
                            trainer train --data-dir ~/data --device cuda --out-dir runs/a\n\n\
                            candle sizes its CPU thread pool from RAYON_NUM_THREADS; this model's \
                            operations are small, and RAYON_NUM_THREADS=1 was 1.7x faster on 2 cores.")]
    Train(TrainArgs),
    /// Accuracy, per-class accuracy and confusion matrix of a model file, run by infer-core.
    #[command(
        after_help = "Examples:\n  trainer eval\n  trainer eval artifacts/model.safetensors --json\n  \
                            trainer eval model.int8.postcard --images imgs.idx3-ubyte --labels lbls.idx1-ubyte"
    )]
    Eval(EvalArgs),
    /// The top classes for a picture of a digit (PNG or JPEG) or a test image.
    #[command(
        after_help = "Examples:\n  trainer predict digit.png\n  trainer predict photo.jpg --invert -v\n  \
                            trainer predict --index 42 --model artifacts/model.safetensors"
    )]
    Predict(PredictArgs),
    /// Format, scheme, shape, size, checksum and metadata of a blob or safetensors file.
    #[command(after_help = "Examples:\n  trainer inspect artifacts/model.int8.postcard\n  \
                            trainer inspect artifacts/model.safetensors --json")]
    Inspect(InspectArgs),
    /// Quantize a float safetensors (`linear.weight` [10, 784], `linear.bias` [10]; ours or one
    /// saved from PyTorch) and write the int8 safetensors and both device blobs.
    #[command(after_help = "Examples:\n  trainer export model.safetensors --out-dir device/\n\n\
                            From PyTorch: safetensors.torch.save_file(model.state_dict(), \"model.safetensors\")")]
    Export(ExportArgs),
    /// Draw the pictures of a trained model: weight templates, confusion matrix, training curves.
    #[command(
        after_help = "Examples:\n  trainer plot\n  trainer plot --model runs/a/model.safetensors --out-dir runs/a"
    )]
    Plot(PlotArgs),
    /// Make an Ed25519 key pair for signing device blobs (`--signing-key` of train and export).
    #[command(after_help = "Examples:\n  trainer keygen --out keys/release.pem\n\n\
                            Writes FILE (private, PKCS#8 PEM, owner-only) and FILE with .pub.pem \
                            (public, SPKI PEM) for the firmware: FIRMWARE_PUBLIC_KEY=keys/release.pub.pem. \
                            Keys from `openssl genpkey -algorithm ed25519` work too.")]
    Keygen(KeygenArgs),
}

/// Options of `trainer train`.
#[derive(Args)]
pub struct TrainArgs {
    /// Hyper-parameters: `default` (AdamW, best accuracy) or `tutorial` (the PyTorch tutorial's SGD).
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    pub preset: Preset,
    /// Directory with the four MNIST IDX files (raw or .gz), or a torchvision root holding
    /// MNIST/raw/. Defaults to the copy bundled with this repository.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where to write the model files.
    #[arg(long, value_name = "DIR", default_value = "artifacts")]
    pub out_dir: PathBuf,
    /// Seed for initialisation and shuffling: the same seed gives the same model on a machine.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, cuda, cuda:N, or auto (CUDA when built in and present).
    #[arg(long, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Passes over the training set (overrides the preset).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per step (overrides the preset).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Base learning rate (overrides the preset).
    #[arg(long, value_name = "LR")]
    pub learning_rate: Option<f64>,
    /// Save a checkpoint (OUT_DIR/checkpoint.safetensors) every N iterations; 0: only when
    /// interrupted (Ctrl-C).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub checkpoint_every: usize,
    /// Continue from OUT_DIR/checkpoint.safetensors with its settings, to the same result as
    /// an uninterrupted run.
    #[arg(long, conflicts_with_all = ["preset", "seed", "epochs", "batch_size", "learning_rate"])]
    pub resume: bool,
    /// Signing of the device blobs.
    #[command(flatten)]
    pub signing: SigningArgs,
}

/// Signed device blobs, for firmware built with a public key.
#[derive(Args)]
pub struct SigningArgs {
    /// Also write model.int8.signed and model.f32.signed, signed with this Ed25519 private key
    /// (PKCS#8 PEM, from `trainer keygen`).
    #[arg(long, value_name = "FILE", requires = "counter")]
    pub signing_key: Option<PathBuf>,
    /// Security counter in the signed blobs: devices refuse blobs below the counter they run
    /// (rollback). Raise it for every release.
    #[arg(long, value_name = "N", requires = "signing_key")]
    pub counter: Option<u32>,
}

/// Options of `trainer keygen`.
#[derive(Args)]
pub struct KeygenArgs {
    /// The private key file; the public key goes next to it as *.pub.pem.
    #[arg(long, value_name = "FILE", default_value = "signing-key.pem")]
    pub out: PathBuf,
}

/// Options of `trainer eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// A `.postcard` blob, or a float or int8 `.safetensors`.
    #[arg(default_value = "artifacts/model.int8.postcard")]
    pub model: PathBuf,
    /// Which labelled images.
    #[command(flatten)]
    pub data: DataArgs,
}

/// Which labelled images to evaluate on.
#[derive(Args)]
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
        let dir = self.data_dir.clone().unwrap_or_else(trainer::data::bundled_dir);
        let mnist = Mnist::load(&dir)?;
        Ok(match self.split {
            SplitName::Test => (mnist.test, "the MNIST test set (10,000 images)".into()),
            SplitName::Train => (mnist.train, "the MNIST training set (60,000 images)".into()),
        })
    }
}

/// Options of `trainer predict`.
#[derive(Args)]
pub struct PredictArgs {
    /// A PNG or JPEG of one digit, any size.
    #[arg(required_unless_present = "index", conflicts_with = "index")]
    pub image: Option<PathBuf>,
    /// Classify MNIST test image N instead of a picture.
    #[arg(long, value_name = "N")]
    pub index: Option<usize>,
    /// The model: a blob (what the device runs) or a safetensors.
    #[arg(long, default_value = "artifacts/model.int8.postcard")]
    pub model: PathBuf,
    /// Ink colour: `auto` inverts pictures with a light border (dark ink on paper).
    #[arg(long, value_enum, default_value_t = Ink::Auto)]
    pub ink: Ink,
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

/// Options of `trainer inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// A `.postcard` blob, a `.signed` blob or a `.safetensors` file.
    pub file: PathBuf,
    /// Verify a signed blob's signature with this public key (SPKI PEM, from `trainer keygen`).
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
}

/// Options of `trainer export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Float safetensors with `linear.weight` F32 [10, 784] and `linear.bias` F32 [10].
    pub model: PathBuf,
    /// Where to write model.int8.safetensors, model.f32.postcard and model.int8.postcard.
    #[arg(long, value_name = "DIR", default_value = "artifacts")]
    pub out_dir: PathBuf,
    /// Signing of the device blobs.
    #[command(flatten)]
    pub signing: SigningArgs,
}

/// Options of `trainer plot`.
#[derive(Args)]
pub struct PlotArgs {
    /// Float safetensors written by `train` (with its training history) or by `export`.
    #[arg(long, default_value = "artifacts/model.safetensors")]
    pub model: PathBuf,
    /// Where to write weights.png, confusion.png and training.png.
    #[arg(long, value_name = "DIR", default_value = "artifacts")]
    pub out_dir: PathBuf,
    /// MNIST directory for the confusion matrix (default: the bundled copy).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// How much to print, and in which form.
#[derive(Clone, Copy)]
pub struct Output {
    /// JSON instead of text.
    pub json: bool,
    /// Results only.
    pub quiet: bool,
    /// Extra detail.
    pub verbose: bool,
}

/// What to do when no model file can be read.
pub const MODEL_HINT: &str = "cannot use the model (train one with `trainer train`, or give a .postcard or .safetensors file)";

/// An input the user gave that cannot be used (exit code 65).
#[derive(Debug)]
pub struct InvalidInput(pub String);

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = interrupt::install() {
        eprintln!("warning: Ctrl-C will not stop cleanly: {error}");
    }
    let output = Output { json: cli.json, quiet: cli.quiet, verbose: cli.verbose };
    let result = match &cli.command {
        Command::Train(args) => commands::train::run(args, output),
        Command::Eval(args) => commands::eval::run(args, output),
        Command::Predict(args) => commands::predict::run(args, output),
        Command::Inspect(args) => commands::inspect::run(args, output),
        Command::Export(args) => commands::export::run(args, output),
        Command::Plot(args) => commands::plot::run(args, output),
        Command::Keygen(args) => commands::keygen::run(args, output),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::from(exit_code(&error))
        }
    }
}

/// The error and its causes, each once: our errors already include their source's text.
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain().map(ToString::to_string) {
        if !text.contains(&cause) {
            text += if text.is_empty() { "" } else { ": " };
            text += &cause;
        }
    }
    text
}

/// 130 when interrupted, 74 when an I/O error is the cause, 65 when an input is invalid,
/// else 1.
fn exit_code(error: &anyhow::Error) -> u8 {
    use trainer::{data::DataError, digit::DigitError, export::ExportError, model::ModelError};
    if error.chain().any(|cause| cause.is::<interrupt::Interrupted>()) {
        return 130;
    }
    if error.chain().any(|cause| cause.is::<std::io::Error>()) {
        return 74;
    }
    let invalid = error.chain().any(|cause| {
        cause.is::<InvalidInput>()
            || cause.is::<DataError>()
            || cause.is::<DigitError>()
            || cause.is::<ExportError>()
            || cause.is::<ModelError>()
            || cause.is::<infer_core::Error>()
            || cause.is::<trainer::plot::PlotError>()
            || cause.is::<trainer::signing::KeyError>()
    });
    if invalid { 65 } else { 1 }
}
