//! `trainer train`: data -> candle -> int8 and int4 -> infer-core accuracy -> files.

use std::fs;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use std::{panic, thread};

use anyhow::Context;
use candle_core::Device;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use infer_core::Model;
use trainer::calibration::Calibration;
use trainer::checkpoint::Checkpoint;
use trainer::data::{self, Mnist};
use trainer::device::{self as devices, DeviceChoice};
use trainer::eval::{self, Evaluation};
use trainer::file_names::{
    CHECKPOINT_FILE, CONFUSION_PICTURE, FLOAT_FILE, INT4_FILE, INT8_FILE, TRAINING_PICTURE,
    WEIGHTS_PICTURE,
};
use trainer::safetensors_file::{self as file, FORMAT_VERSION, Metadata};
use trainer::settings::{Config, Preset};
use trainer::train::{self, Event, Outcome, Start, Trained};
use trainer::{atomic_write, plot, quantize};

use crate::commands::device_files::{DeviceFiles, Signer, SigningArgs};
use crate::commands::{Output, list_files, write_files};
use crate::interrupt::{self, Interrupted};

/// Options of `trainer train`.
#[derive(clap::Args)]
pub struct Args {
    /// Hyper-parameters: `default` (AdamW, best accuracy) or `tutorial` (the PyTorch tutorial's SGD).
    #[arg(long, value_enum, default_value_t = PresetFlag::Default)]
    pub preset: PresetFlag,
    /// Directory with the four MNIST IDX files (raw or .gz), or a torchvision root holding
    /// MNIST/raw/. Defaults to the copy bundled with this repository.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where to write the model files.
    #[arg(long, value_name = "DIR", default_value = "artifacts")]
    pub out_dir: PathBuf,
    /// Seed for initialisation and shuffling: the same seed gives the same files on a machine.
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

/// `--preset`: [`Preset`] on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum PresetFlag {
    /// AdamW with a cosine learning-rate decay: the best accuracy this model reaches, quickly.
    Default,
    /// The PyTorch tutorial exactly: SGD, lr 0.001, batch 100, 3000 iterations.
    Tutorial,
}

impl From<PresetFlag> for Preset {
    fn from(flag: PresetFlag) -> Self {
        match flag {
            PresetFlag::Default => Preset::Default,
            PresetFlag::Tutorial => Preset::Tutorial,
        }
    }
}

/// The quantized models' accuracy on the test set, measured by infer-core on their blobs.
struct Evaluations {
    int8: Evaluation,
    int4: Evaluation,
}

/// Where the time went, for the report.
struct Timings {
    loading: Duration,
    training: Duration,
    total: Duration,
}

pub fn run(args: &Args, output: Output) -> anyhow::Result<()> {
    let started = Instant::now();
    let signer = Signer::from_args(&args.signing)?;
    let device = args.device.open()?;
    let start = start(args)?;
    let config = start.config().clone();
    let data = Mnist::load(&args.data_dir.clone().unwrap_or_else(data::bundled_dir))?;
    let loading = started.elapsed();
    // Training keeps one core busy: the int4 calibration, which needs only the training
    // images, runs meanwhile on another.
    let (trained, calibration) = thread::scope(|scope| {
        let calibration = scope.spawn(|| Calibration::from_training(&data.train));
        let trained = train_with_progress(args, &data, &device, start, output);
        (trained, calibration.join().unwrap_or_else(|panic| panic::resume_unwind(panic)))
    });
    let trained = trained?;
    let training = started.elapsed() - loading;

    let int8 = quantize::quantize(&trained.model);
    let int4 = quantize::quantize_int4(&trained.model, &calibration);
    let device_files = DeviceFiles::new(&trained.model, &int8, &int4, signer.as_ref())?;
    let evaluations = Evaluations {
        int8: eval::evaluate(&Model::from_blob(&device_files.int8_blob)?, &data.test)?,
        int4: eval::evaluate(&Model::from_blob(&device_files.int4_blob)?, &data.test)?,
    };
    let metadata = metadata(&config, &device, &data, &trained, &evaluations)?;
    let out = &args.out_dir;
    let mut files = vec![
        (out.join(FLOAT_FILE), file::float_safetensors(&trained.model, &metadata)?),
        (out.join(INT8_FILE), file::int8_safetensors(&int8, &metadata)?),
        (out.join(INT4_FILE), file::int4_safetensors(&int4, &metadata)?),
    ];
    files.extend(device_files.into_files(out));
    files.extend(pictures(out, &config, &trained, &evaluations.int8)?);
    write(out, &files)?;
    let timings = Timings { loading, training, total: started.elapsed() };
    report(args, &config, &device, &timings, &trained, &evaluations, &files)
}

/// Fresh settings from the flags, or the checkpoint to resume.
fn start(args: &Args) -> anyhow::Result<Start> {
    if args.resume {
        let checkpoint = Checkpoint::read(&args.out_dir.join(CHECKPOINT_FILE))
            .context("cannot resume (a checkpoint is saved by --checkpoint-every or Ctrl-C)")?;
        return Ok(Start::Resume(Box::new(checkpoint)));
    }
    let mut config = Config::preset(args.preset.into(), args.seed);
    config.epochs = args.epochs.unwrap_or(config.epochs);
    config.batch_size = args.batch_size.unwrap_or(config.batch_size);
    config.learning_rate = args.learning_rate.unwrap_or(config.learning_rate);
    Ok(Start::Fresh(config))
}

/// Trains with a progress bar and log lines, saving checkpoints as they come; when stopped
/// (Ctrl-C), saves one and fails with [`Interrupted`].
fn train_with_progress(
    args: &Args,
    data: &Mnist,
    device: &Device,
    start: Start,
    output: Output,
) -> anyhow::Result<Trained> {
    let config = start.config().clone();
    let checkpoint_path = args.out_dir.join(CHECKPOINT_FILE);
    let bar = if output.quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:32}] {pos}/{len} iterations")?
            .progress_chars("=> "),
    );
    // indicatif drops `println` when stderr is not a terminal; log lines must still reach a
    // pipe. A closed stdout does not stop training: the final report ends the run quietly.
    let log = |line: String| match (output.quiet, bar.is_hidden()) {
        (true, _) => {}
        (false, true) => {
            let _ = writeln!(io::stdout(), "{line}");
        }
        (false, false) => bar.println(line),
    };
    if let Start::Resume(checkpoint) = &start {
        let at = checkpoint.iteration;
        log(format!("Resuming at iteration {at} ({})", checkpoint_path.display()));
    }
    let steps_per_epoch = data.train.len().div_ceil(config.batch_size.max(1));
    let mut save_error = None;
    let outcome = train::train(data, device, start, args.checkpoint_every, &mut |event| {
        match event {
            Event::Step { done, total } => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            // The tutorial's own log line, so runs can be compared line by line.
            Event::Log { point: p, .. } if config.preset == Preset::Tutorial => log(format!(
                "Iteration: {}. Loss: {}. Accuracy: {}",
                p.iteration,
                f64::from(p.loss),
                p.test_accuracy
            )),
            Event::Log { point: p, seconds } => log(format!(
                "epoch {:>2}/{}  mean loss {:.4}  test accuracy {:.2}%  ({seconds:.1} s)",
                p.iteration.div_ceil(steps_per_epoch),
                config.epochs,
                p.mean_loss,
                p.test_accuracy,
            )),
            Event::Checkpoint(checkpoint) => {
                if let Err(error) = save(checkpoint, &checkpoint_path) {
                    save_error = Some(error);
                    return ControlFlow::Break(());
                }
            }
        }
        if interrupt::requested() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    })?;
    bar.finish_and_clear();
    if let Some(error) = save_error {
        return Err(error);
    }
    match outcome {
        Outcome::Finished(trained) => Ok(trained),
        Outcome::Stopped(checkpoint) => {
            save(&checkpoint, &checkpoint_path)?;
            let (out, total) = (args.out_dir.display(), config.epochs * steps_per_epoch);
            Err(Interrupted(format!(
                "stopped at iteration {} of {total}; the files in {out} are untouched. Saved {}: \
                 continue with `trainer train --resume --out-dir {out}`",
                checkpoint.iteration,
                checkpoint_path.display(),
            ))
            .into())
        }
    }
}

/// Writes a checkpoint atomically (creating the output directory).
fn save(checkpoint: &Checkpoint, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    }
    atomic_write::write_atomically(&[(path.to_path_buf(), checkpoint.to_safetensors()?)])
        .context("cannot save the checkpoint")
}

/// What the safetensors files say about their model: how it was made and how well it does.
/// Nothing that changes from run to run: the same seed gives the same files.
fn metadata(
    config: &Config,
    device: &Device,
    data: &Mnist,
    trained: &Trained,
    evaluations: &Evaluations,
) -> anyhow::Result<Metadata> {
    Ok(Metadata::from([
        ("format".into(), "mnist-logistic-regression".into()),
        ("format_version".into(), FORMAT_VERSION.into()),
        ("trainer_version".into(), env!("CARGO_PKG_VERSION").into()),
        ("float_test_accuracy".into(), format!("{:.2}", trained.test_accuracy)),
        ("int8_test_accuracy".into(), format!("{:.2}", evaluations.int8.percent())),
        ("int4_test_accuracy".into(), format!("{:.2}", evaluations.int4.percent())),
        ("training".into(), serde_json::to_string(config)?),
        ("device".into(), devices::describe(device)),
        ("data_sha256".into(), serde_json::to_string(&data.sha256_by_name())?),
        ("history".into(), serde_json::to_string(&trained.history)?),
    ]))
}

/// The weights, the int8 confusion matrix and the training curves.
fn pictures(
    out: &Path,
    config: &Config,
    trained: &Trained,
    evaluation: &Evaluation,
) -> anyhow::Result<[(PathBuf, Vec<u8>); 3]> {
    let title = plot::training_title(config);
    Ok([
        (out.join(WEIGHTS_PICTURE), plot::weights(&trained.model)?),
        (out.join(CONFUSION_PICTURE), plot::confusion(evaluation)?),
        (out.join(TRAINING_PICTURE), plot::training(&trained.history, &title)?),
    ])
}

/// Writes the files all or nothing, then removes the finished run's checkpoint.
fn write(out: &Path, files: &[(PathBuf, Vec<u8>)]) -> anyhow::Result<()> {
    write_files(out, files)?;
    let checkpoint = out.join(CHECKPOINT_FILE);
    match fs::remove_file(&checkpoint) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            eprintln!("warning: cannot remove the finished run's {}: {error}", checkpoint.display())
        }
        _ => {}
    }
    Ok(())
}

/// What was trained, how well, how fast, and the files written.
fn report(
    args: &Args,
    config: &Config,
    device: &Device,
    timings: &Timings,
    trained: &Trained,
    evaluations: &Evaluations,
    files: &[(PathBuf, Vec<u8>)],
) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "Trained on {} ({} preset: {}, {} epochs, batch {}, seed {}) in {:.1} s \
         (data loading {:.1} s, total {:.1} s)",
        devices::describe(device),
        config.preset,
        config.optimizer,
        config.epochs,
        config.batch_size,
        config.seed,
        timings.training.as_secs_f64(),
        timings.loading.as_secs_f64(),
        timings.total.as_secs_f64(),
    )?;
    let float = trained.test_accuracy;
    writeln!(out, "  float test accuracy  {float:>6.2}%  (candle)")?;
    for (name, evaluation) in [("int8", &evaluations.int8), ("int4", &evaluations.int4)] {
        let accuracy = evaluation.percent();
        writeln!(
            out,
            "  {name} test accuracy   {accuracy:>6.2}%  (infer-core, {:+.2} pp)",
            accuracy - float
        )?;
    }
    writeln!(out, "Wrote {}:", args.out_dir.display())?;
    list_files(&mut out, files)?;
    Ok(())
}
