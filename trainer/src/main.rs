//! `trainer`: train, quantize, export, evaluate and inspect MNIST logistic regression.
//! See `trainer --help`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{Output, eval, export, inspect, keygen, plot, predict, push, train};
use crate::exit::Exit;

mod commands;
mod exit;
mod interrupt;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print machine-readable JSON (eval, predict, inspect, keygen, push).
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
                          65 invalid input (model, data, picture or key; a model the device \
                          refused), 69 device unavailable (port cannot be opened, no answer), \
                          74 I/O error (e.g. disk full, link lost), 76 device protocol error, \
                          130 interrupted (previous files untouched).";

#[derive(Subcommand)]
enum Command {
    /// Train on MNIST, quantize to int8 and int4, and write the float, int8, int4 and device files.
    #[command(after_help = "Examples:\n  trainer train\n  trainer train --preset tutorial\n  \
                            trainer train --data-dir ~/data --device cuda --out-dir runs/a\n\n\
                            On the CPU, candle trains on one thread whatever RAYON_NUM_THREADS says: \
                            this model's operations are too small to gain from more, and a seed gives \
                            the same files whatever the number of cores.")]
    Train(train::Args),
    /// Accuracy, per-class accuracy and confusion matrix of a model file, run by infer-core.
    #[command(
        after_help = "Examples:\n  trainer eval\n  trainer eval artifacts/model.safetensors --json\n  \
                            trainer eval model.int8.postcard --images imgs.idx3-ubyte --labels lbls.idx1-ubyte\n  \
                            trainer eval artifacts/model.int4.postcard"
    )]
    Eval(eval::Args),
    /// The top classes for a picture of a digit (PNG or JPEG) or a test image.
    #[command(
        after_help = "Examples:\n  trainer predict digit.png\n  trainer predict photo.jpg --invert -v\n  \
                            trainer predict --index 42 --model artifacts/model.safetensors"
    )]
    Predict(predict::Args),
    /// Format, scheme, shape, size, checksum and metadata of a blob, safetensors or PyTorch file.
    #[command(after_help = "Examples:\n  trainer inspect artifacts/model.int8.postcard\n  \
                            trainer inspect artifacts/model.safetensors --json\n  \
                            trainer inspect awesome_model.pkl")]
    Inspect(inspect::Args),
    /// Quantize a float model (`linear.weight` [10, 784], `linear.bias` [10]: a float
    /// safetensors, ours or one saved from PyTorch, or a PyTorch `torch.save` state dict) and
    /// write the int8 and int4 safetensors and the three device blobs (int4 rounding is
    /// calibrated on the MNIST training images).
    #[command(after_help = "Examples:\n  trainer export model.safetensors --out-dir device/\n  \
                            trainer export awesome_model.pkl\n\n\
                            From PyTorch: torch.save(model.state_dict(), \"awesome_model.pkl\") (the \
                            tutorial's last line), or safetensors.torch.save_file(model.state_dict(), \
                            \"model.safetensors\")")]
    Export(export::Args),
    /// Draw the pictures of a trained model: weight templates, confusion matrix, training curves.
    #[command(
        after_help = "Examples:\n  trainer plot\n  trainer plot --model runs/a/model.safetensors --out-dir runs/a"
    )]
    Plot(plot::Args),
    /// Make an Ed25519 key pair for signing device blobs (`--signing-key` of train and export).
    #[command(after_help = "Examples:\n  trainer keygen --out keys/release.pem\n\n\
                            Writes FILE (private, PKCS#8 PEM, owner-only) and FILE with .pub.pem \
                            (public, SPKI PEM) for the firmware: FIRMWARE_PUBLIC_KEY=keys/release.pub.pem. \
                            Keys from `openssl genpkey -algorithm ed25519` work too.")]
    Keygen(keygen::Args),
    /// Send a model blob or signed envelope to a device over its update link (TCP or serial)
    /// and make it the model the device runs; an interrupted transfer resumes.
    #[command(
        after_help = "Examples:\n  trainer push artifacts/model.int8.postcard --port /dev/ttyUSB0\n  \
                            trainer push model.int4.signed --port /dev/ttyACM0 --baud 921600\n  \
                            trainer push artifacts/model.int8.postcard --port 127.0.0.1:4321 \
                            --timeout 0.5 --retries 10\n\n\
                            The device checks the model (blob, signature, security counter) and \
                            keeps running its previous model if it refuses one or the link fails."
    )]
    Push(push::Args),
}

fn main() -> ExitCode {
    one_candle_thread();
    let cli = Cli::parse();
    if let Err(error) = interrupt::install() {
        eprintln!("warning: Ctrl-C will not stop cleanly: {error}");
    }
    let output = Output { json: cli.json, quiet: cli.quiet, verbose: cli.verbose };
    let result = match &cli.command {
        Command::Train(args) => train::run(args, output),
        Command::Eval(args) => eval::run(args, output),
        Command::Predict(args) => predict::run(args, output),
        Command::Inspect(args) => inspect::run(args, output),
        Command::Export(args) => export::run(args, output),
        Command::Plot(args) => plot::run(args, output),
        Command::Keygen(args) => keygen::run(args, output),
        Command::Push(args) => push::run(args, output),
    };
    let Err(error) = result else { return ExitCode::SUCCESS };
    let status = Exit::of(&error);
    // A closed stdout (`trainer eval --json | head`) ends quietly, as Unix tools do.
    if status != Exit::ClosedOutput {
        eprintln!("error: {}", describe(&error));
    }
    status.into()
}

/// candle splits a CPU matrix product over `RAYON_NUM_THREADS` threads, and where that is unset
/// reads /proc/cpuinfo before each product. This model's products are too small to gain from
/// threads, and one thread makes a seed's bits independent of the core count: the trainer sets it.
#[allow(unsafe_code)]
fn one_candle_thread() {
    // SAFETY: first thing in `main`: no other thread exists to read the environment meanwhile.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
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
