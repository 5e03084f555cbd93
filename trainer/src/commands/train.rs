//! `trainer train`: data -> candle -> int8 -> infer-core accuracy -> files.

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use trainer::checkpoint::{CHECKPOINT_FILE, Checkpoint};
use trainer::data::{self, Mnist};
use trainer::export::{self, Metadata};
use trainer::train::{self, Config, Event, LogPoint, Outcome, Preset, Start};
use trainer::{device, eval, plot, quantize};

use crate::commands::sign::Signer;
use crate::interrupt::{self, Interrupted};
use crate::{Output, TrainArgs};

pub fn run(args: &TrainArgs, output: Output) -> anyhow::Result<()> {
    let started = Instant::now();
    let signer = Signer::from_args(&args.signing)?;
    let device = args.device.open()?;
    let out = &args.out_dir;
    let checkpoint_path = out.join(CHECKPOINT_FILE);
    let start = if args.resume {
        let checkpoint = Checkpoint::read(&checkpoint_path)
            .context("cannot resume (a checkpoint is saved by --checkpoint-every or Ctrl-C)")?;
        Start::Resume(Box::new(checkpoint))
    } else {
        let mut config = Config::preset(args.preset, args.seed);
        config.epochs = args.epochs.unwrap_or(config.epochs);
        config.batch_size = args.batch_size.unwrap_or(config.batch_size);
        config.learning_rate = args.learning_rate.unwrap_or(config.learning_rate);
        Start::Fresh(config)
    };
    let config = match &start {
        Start::Fresh(config) => config.clone(),
        Start::Resume(checkpoint) => checkpoint.config.clone(),
    };
    let data_dir = args.data_dir.clone().unwrap_or_else(data::bundled_dir);
    let data = Mnist::load(&data_dir)?;
    let loaded_in = started.elapsed();

    let bar = if output.quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    // indicatif drops `println` when stderr is not a terminal; log lines must still reach a pipe.
    let log = |line: String| match (output.quiet, bar.is_hidden()) {
        (true, _) => {}
        (false, true) => println!("{line}"),
        (false, false) => bar.println(line),
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:32}] {pos}/{len} iterations")?
            .progress_chars("=> "),
    );
    if let Start::Resume(checkpoint) = &start {
        log(format!(
            "Resuming at iteration {} ({})",
            checkpoint.iteration,
            checkpoint_path.display()
        ));
    }
    let steps_per_epoch = data.train.len().div_ceil(config.batch_size.max(1));
    let mut save_error = None;
    let outcome = train::train(&data, &device, start, args.checkpoint_every, &mut |event| {
        match event {
            Event::Step { done, total } => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            // The tutorial's own log line, so runs can be compared line by line.
            Event::Log(p) if config.preset == Preset::Tutorial => log(format!(
                "Iteration: {}. Loss: {}. Accuracy: {}",
                p.iteration,
                f64::from(p.loss),
                p.test_accuracy
            )),
            Event::Log(p) => log(format!(
                "epoch {:>2}/{}  mean loss {:.4}  test accuracy {:.2}%  ({:.1} s)",
                p.iteration.div_ceil(steps_per_epoch),
                config.epochs,
                p.mean_loss,
                p.test_accuracy,
                p.seconds
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
    if let Some(error) = save_error {
        return Err(error);
    }
    let trained = match outcome {
        Outcome::Finished(trained) => trained,
        Outcome::Stopped(checkpoint) => {
            bar.finish_and_clear();
            save(&checkpoint, &checkpoint_path)?;
            let total = config.epochs * steps_per_epoch;
            return Err(Interrupted(format!(
                "stopped at iteration {} of {total}; the files in {} are untouched. Saved {}: \
                 continue with `trainer train --resume --out-dir {}`",
                checkpoint.iteration,
                out.display(),
                checkpoint_path.display(),
                out.display()
            ))
            .into());
        }
    };
    bar.finish_and_clear();
    let trained_in = started.elapsed() - loaded_in;

    let int8 = quantize::quantize(&trained.model);
    let f32_blob = trained.model.to_blob()?;
    let int8_blob = int8.to_blob()?;
    let int8_accuracy = eval::evaluate(&infer_core::Model::from_blob(&int8_blob)?, &data.test)?;

    let metadata = metadata(
        &config,
        &device,
        &data,
        trained.test_accuracy,
        int8_accuracy.percent(),
        &trained.history,
    )?;
    fs::create_dir_all(out)
        .with_context(|| format!("cannot create output directory {}", out.display()))?;
    let signed = signer.map(|signer| signer.sign(out, &f32_blob, &int8_blob));
    let files = vec![
        (out.join(export::FLOAT_FILE), export::float_safetensors(&trained.model, &metadata)?),
        (out.join(export::INT8_FILE), export::int8_safetensors(&int8, &metadata)?),
        (out.join(export::F32_BLOB_FILE), f32_blob),
        (out.join(export::INT8_BLOB_FILE), int8_blob),
    ];
    let pictures = [
        (out.join(WEIGHTS_PICTURE), plot::weights(&trained.model)?),
        (out.join(CONFUSION_PICTURE), plot::confusion(&int8_accuracy, CONFUSION_TITLE)?),
        (out.join(TRAINING_PICTURE), plot::training(&trained.history, &training_title(&config))?),
    ];
    let files: Vec<_> =
        files.into_iter().chain(signed.into_iter().flatten()).chain(pictures).collect();
    crate::commands::write_files(out, &files)?;
    match fs::remove_file(&checkpoint_path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => eprintln!(
            "warning: cannot remove the finished run's {}: {error}",
            checkpoint_path.display()
        ),
        _ => {}
    }
    let total = started.elapsed();

    println!(
        "Trained on {} ({} preset: {}, {} epochs, batch {}, seed {}) in {:.1} s \
         (data loading {:.1} s, total {:.1} s)",
        device::describe(&device),
        config.preset,
        config.optimizer,
        config.epochs,
        config.batch_size,
        config.seed,
        trained_in.as_secs_f64(),
        loaded_in.as_secs_f64(),
        total.as_secs_f64(),
    );
    println!("  float test accuracy  {:>6.2}%  (candle)", trained.test_accuracy);
    println!(
        "  int8 test accuracy   {:>6.2}%  (infer-core, {:+.2} pp)",
        int8_accuracy.percent(),
        int8_accuracy.percent() - trained.test_accuracy
    );
    println!("Wrote {}:", out.display());
    for (path, bytes) in &files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        println!("  {name:<24}{:>8} bytes", bytes.len());
    }
    Ok(())
}

/// Writes a checkpoint atomically (creating the output directory).
fn save(checkpoint: &Checkpoint, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    }
    export::write_atomically(&[(path.to_path_buf(), checkpoint.to_safetensors()?)])
        .context("cannot save the checkpoint")
}

fn metadata(
    config: &Config,
    device: &candle_core::Device,
    data: &Mnist,
    float_accuracy: f64,
    int8_accuracy: f64,
    history: &[LogPoint],
) -> anyhow::Result<Metadata> {
    Ok(Metadata::from([
        ("format".into(), "mnist-logistic-regression".into()),
        ("format_version".into(), export::FORMAT_VERSION.into()),
        ("trainer_version".into(), env!("CARGO_PKG_VERSION").into()),
        ("float_test_accuracy".into(), format!("{float_accuracy:.2}")),
        ("int8_test_accuracy".into(), format!("{int8_accuracy:.2}")),
        ("training".into(), serde_json::to_string(config)?),
        ("device".into(), device::describe(device)),
        ("data_sha256".into(), serde_json::to_string(&data.sha256_by_name())?),
        ("history".into(), serde_json::to_string(history)?),
    ]))
}

/// The pictures `train` and `plot` write next to the model files.
pub const WEIGHTS_PICTURE: &str = "weights.png";
/// See [`WEIGHTS_PICTURE`].
pub const CONFUSION_PICTURE: &str = "confusion.png";
/// See [`WEIGHTS_PICTURE`].
pub const TRAINING_PICTURE: &str = "training.png";
/// What the confusion matrix picture shows.
pub const CONFUSION_TITLE: &str = "Confusion matrix: int8, run by infer-core, test set";

/// The title of the training curves: what was trained, how.
pub fn training_title(config: &Config) -> String {
    format!(
        "{} preset: {}, batch {}, seed {}",
        config.preset, config.optimizer, config.batch_size, config.seed
    )
}
