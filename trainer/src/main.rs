//! `trainer`: train, quantize and export MNIST logistic regression. See `trainer --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use trainer::device::DeviceChoice;
use trainer::train::Preset;

mod commands;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train on MNIST, quantize to int8, and write the float, int8 and device files.
    #[command(after_help = "Examples:\n  trainer train\n  trainer train --preset tutorial\n  \
                            trainer train --data-dir ~/data --device cuda --out-dir runs/a\n\n\
                            candle sizes its CPU thread pool from RAYON_NUM_THREADS; this model's \
                            operations are small, and RAYON_NUM_THREADS=1 was 1.6x faster on 2 cores.")]
    Train(TrainArgs),
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
    /// Print only the summary.
    #[arg(short, long)]
    pub quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => commands::train::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
