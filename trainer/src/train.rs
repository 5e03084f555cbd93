//! Training with candle: presets, the loop, evaluation and divergence checks.

use std::f64::consts::PI;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW, SGD};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::{CLASSES, Mnist, PIXELS, Split};
pub use crate::history::LogPoint;
use crate::model::{FloatModel, ModelError};

/// A named set of hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// AdamW with a cosine learning-rate decay: the best accuracy this model reaches, quickly.
    Default,
    /// The PyTorch tutorial exactly: SGD, lr 0.001, batch 100, 3000 iterations.
    Tutorial,
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Preset::Default => "default",
            Preset::Tutorial => "tutorial",
        })
    }
}

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Plain stochastic gradient descent (no momentum), as `torch.optim.SGD`.
    Sgd,
    /// Adam with decoupled weight decay.
    AdamW,
}

impl std::fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OptimizerKind::Sgd => "SGD",
            OptimizerKind::AdamW => "AdamW",
        })
    }
}

/// How the learning rate changes over training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Half a cosine from the base rate to zero over all iterations.
    Cosine,
}

/// Everything that determines a training run (with the data and the device).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Where the other values came from.
    pub preset: Preset,
    /// Update rule.
    pub optimizer: OptimizerKind,
    /// Base learning rate.
    pub learning_rate: f64,
    /// Decoupled weight decay (AdamW only).
    pub weight_decay: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Examples per step; the last batch of an epoch may be smaller, as in PyTorch.
    pub batch_size: usize,
    /// Passes over the training set.
    pub epochs: usize,
    /// Seeds initialisation and shuffling: same seed, same result on the same machine.
    pub seed: u64,
    /// Iterations between logged loss and test accuracy (0: at the end of each epoch).
    pub log_every: usize,
}

impl Config {
    /// The settings of `preset` with the given seed.
    pub fn preset(preset: Preset, seed: u64) -> Self {
        match preset {
            Preset::Default => Config {
                preset,
                optimizer: OptimizerKind::AdamW,
                learning_rate: 3e-3,
                weight_decay: 1e-4,
                schedule: Schedule::Cosine,
                batch_size: 100,
                epochs: 10,
                seed,
                log_every: 0,
            },
            // n_iters = 3000 at batch 100 is int(3000 / 600) = 5 epochs, logged every 500.
            Preset::Tutorial => Config {
                preset,
                optimizer: OptimizerKind::Sgd,
                learning_rate: 1e-3,
                weight_decay: 0.0,
                schedule: Schedule::Constant,
                batch_size: 100,
                epochs: 5,
                seed,
                log_every: 500,
            },
        }
    }

    fn learning_rate_at(&self, iteration: usize, total: usize) -> f64 {
        match self.schedule {
            Schedule::Constant => self.learning_rate,
            Schedule::Cosine => {
                self.learning_rate * 0.5 * (1.0 + (PI * iteration as f64 / total as f64).cos())
            }
        }
    }
}

/// What training reports while it runs.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// One more iteration done, of `total`.
    Step {
        /// Iterations done.
        done: usize,
        /// Iterations in the run.
        total: usize,
    },
    /// A logged point (every `log_every` iterations or epoch).
    Log(LogPoint),
}

/// The outcome of training.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The learned parameters.
    pub model: FloatModel,
    /// Every logged point, the last one at the end of training.
    pub history: Vec<LogPoint>,
    /// Final float test accuracy, percent.
    pub test_accuracy: f64,
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The loss became NaN, infinite or larger than [`DIVERGED_LOSS`]: lower the learning rate.
    #[error("training diverged at iteration {iteration}: loss is {loss}; lower the learning rate")]
    Diverged {
        /// Iteration at which it was seen.
        iteration: usize,
        /// The non-finite loss.
        loss: f32,
    },
    /// The settings cannot work.
    #[error("invalid settings: {0}")]
    Config(&'static str),
    /// The trained parameters are not a valid model.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// candle failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// A loss above this (100 times that of a uniform guess over ten classes, ln 10) or NaN means
/// the run diverged, even where the arg-max still looks sane.
pub const DIVERGED_LOSS: f32 = 100.0 * std::f32::consts::LN_10;

/// A split on the device, as one tensor of normalized pixels and one of labels.
struct DeviceSplit {
    images: Tensor,
    labels: Tensor,
}

impl DeviceSplit {
    fn new(split: &Split, device: &Device) -> candle_core::Result<Self> {
        let pixels: Vec<f32> =
            split.images.iter().map(|&p| infer_core::normalize_pixel(p)).collect();
        let labels: Vec<u32> = split.labels.iter().map(|&l| u32::from(l)).collect();
        Ok(Self {
            images: Tensor::from_vec(pixels, (split.len(), PIXELS), device)?,
            labels: Tensor::from_vec(labels, split.len(), device)?,
        })
    }

    /// Percent of examples whose arg-max logit is the label: one matmul for the whole split.
    fn accuracy(&self, model: &Linear) -> candle_core::Result<f64> {
        let predictions = model.forward(&self.images)?.argmax(1)?;
        let correct =
            predictions.eq(&self.labels)?.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
        Ok(100.0 * f64::from(correct) / self.labels.dim(0)? as f64)
    }
}

/// Trains a 784 -> 10 linear layer with softmax cross-entropy on `data.train`.
pub fn train(
    data: &Mnist,
    config: &Config,
    device: &Device,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Trained, TrainError> {
    if config.batch_size == 0 || config.epochs == 0 || data.train.is_empty() || data.test.is_empty()
    {
        return Err(TrainError::Config("batch size, epochs and both splits must be non-empty"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    // As PyTorch's nn.Linear: weight and bias uniform in +-1/sqrt(fan_in).
    let bound = 1.0 / (PIXELS as f32).sqrt();
    let mut uniform =
        |n: usize| (0..n).map(|_| rng.random_range(-bound..bound)).collect::<Vec<f32>>();
    let weight =
        Var::from_tensor(&Tensor::from_vec(uniform(CLASSES * PIXELS), (CLASSES, PIXELS), device)?)?;
    let bias = Var::from_tensor(&Tensor::from_vec(uniform(CLASSES), CLASSES, device)?)?;
    let vars = vec![weight.clone(), bias.clone()];
    let optimizer = match config.optimizer {
        OptimizerKind::Sgd => AnyOptimizer::Sgd(SGD::new(vars, config.learning_rate)?),
        OptimizerKind::AdamW => AnyOptimizer::AdamW(AdamW::new(
            vars,
            ParamsAdamW {
                lr: config.learning_rate,
                weight_decay: config.weight_decay,
                ..ParamsAdamW::default()
            },
        )?),
    };
    let model = Linear::new(weight.as_tensor().clone(), Some(bias.as_tensor().clone()));
    run(optimizer, data, config, device, &mut rng, &model, on_progress)
}

/// The configured update rule (candle's optimizers are not object safe).
enum AnyOptimizer {
    Sgd(SGD),
    AdamW(AdamW),
}

impl AnyOptimizer {
    fn step(&mut self, loss: &Tensor, learning_rate: f64) -> candle_core::Result<()> {
        match self {
            Self::Sgd(o) => {
                o.set_learning_rate(learning_rate);
                o.backward_step(loss)
            }
            Self::AdamW(o) => {
                o.set_learning_rate(learning_rate);
                o.backward_step(loss)
            }
        }
    }
}

/// The training loop: shuffled mini-batches, logging, divergence checks.
fn run(
    mut optimizer: AnyOptimizer,
    data: &Mnist,
    config: &Config,
    device: &Device,
    rng: &mut ChaCha8Rng,
    model: &Linear,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Trained, TrainError> {
    let started = std::time::Instant::now();
    let train = DeviceSplit::new(&data.train, device)?;
    let test = DeviceSplit::new(&data.test, device)?;
    let n = data.train.len();
    let steps_per_epoch = n.div_ceil(config.batch_size);
    let total = steps_per_epoch * config.epochs;
    let log_every = if config.log_every == 0 { steps_per_epoch } else { config.log_every };

    let mut history = Vec::new();
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut iteration = 0;
    // Summed on the device, read only at log points: no per-step host round trip.
    let mut loss_sum = Tensor::zeros((), DType::F32, device)?;
    let mut since_log = 0;
    for _ in 0..config.epochs {
        order.shuffle(rng);
        let epoch_order = Tensor::new(order.as_slice(), device)?;
        for start in (0..n).step_by(config.batch_size) {
            let batch = epoch_order.narrow(0, start, config.batch_size.min(n - start))?;
            let images = train.images.index_select(&batch, 0)?;
            let labels = train.labels.index_select(&batch, 0)?;
            let loss = candle_nn::loss::cross_entropy(&model.forward(&images)?, &labels)?;
            optimizer.step(&loss, config.learning_rate_at(iteration, total))?;
            loss_sum = (loss_sum + loss.detach())?;
            iteration += 1;
            since_log += 1;
            on_progress(Progress::Step { done: iteration, total });
            if iteration % log_every == 0 || iteration == total {
                let loss = loss.to_scalar::<f32>()?;
                let mean_loss = loss_sum.to_scalar::<f32>()? / since_log as f32;
                if [loss, mean_loss].iter().any(|l| l.is_nan() || *l > DIVERGED_LOSS) {
                    return Err(TrainError::Diverged { iteration, loss });
                }
                (loss_sum, since_log) = (loss_sum.zeros_like()?, 0);
                let test_accuracy = test.accuracy(model)?;
                let seconds = started.elapsed().as_secs_f64();
                let point = LogPoint { iteration, loss, mean_loss, test_accuracy, seconds };
                history.push(point);
                on_progress(Progress::Log(point));
            }
        }
    }
    let test_accuracy = history.last().map_or(0.0, |p| p.test_accuracy);
    let bias = model.bias().map(|b| b.to_vec1::<f32>()).transpose()?.unwrap_or_default();
    let model = FloatModel::new(model.weight().flatten_all()?.to_vec1::<f32>()?, bias)?;
    Ok(Trained { model, history, test_accuracy })
}
