//! Training with candle: the loop, its events, evaluation and divergence checks.

use std::ops::ControlFlow;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Linear, Optimizer, ParamsAdamW, SGD};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::checkpoint::Checkpoint;
use crate::data::{CLASSES, Mnist, PIXELS, Split};
use crate::history::LogPoint;
use crate::model::{FloatModel, ModelError};
use crate::optim::{AdamW, AdamWState};
use crate::settings::{Config, OptimizerKind};

/// What training reports while it runs. Answering [`ControlFlow::Break`] to any event stops
/// the run after the current step, with a [`Checkpoint`] to resume from.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// One more iteration done, of `total`.
    Step {
        /// Iterations done.
        done: usize,
        /// Iterations in the run.
        total: usize,
    },
    /// A logged point (every `log_every` iterations or epoch).
    Log {
        /// What goes into the history.
        point: LogPoint,
        /// Training seconds so far, for progress output only: the model files hold no clock.
        seconds: f64,
    },
    /// A checkpoint, every `checkpoint_every` iterations: save it to resume after a crash.
    Checkpoint(&'a Checkpoint),
}

/// Where a run starts.
#[derive(Debug, Clone)]
pub enum Start {
    /// From the seed in the settings.
    Fresh(Config),
    /// Where a checkpoint left off, with its settings.
    Resume(Box<Checkpoint>),
}

impl Start {
    /// The settings of the run.
    pub fn config(&self) -> &Config {
        match self {
            Start::Fresh(config) => config,
            Start::Resume(checkpoint) => &checkpoint.config,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// All iterations done.
    Finished(Trained),
    /// Stopped on request (an event answered [`ControlFlow::Break`]).
    Stopped(Box<Checkpoint>),
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
    /// The checkpoint does not fit the data it is resumed on.
    #[error("cannot resume: {0}")]
    Resume(&'static str),
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

/// Trains a 784 -> 10 linear layer with softmax cross-entropy on `data.train`, from scratch or
/// from a checkpoint, reporting [`Event`]s (with a checkpoint every `checkpoint_every`
/// iterations; 0: never).
pub fn train(
    data: &Mnist,
    device: &Device,
    start: Start,
    checkpoint_every: usize,
    on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
) -> Result<Outcome, TrainError> {
    let config = start.config();
    if config.batch_size == 0 || config.epochs == 0 || data.train.is_empty() || data.test.is_empty()
    {
        return Err(TrainError::Config("batch size, epochs and both splits must be non-empty"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let (weight, bias, state) = match &start {
        Start::Fresh(_) => {
            // As PyTorch's nn.Linear: weight and bias uniform in +-1/sqrt(fan_in).
            let bound = 1.0 / (PIXELS as f32).sqrt();
            let mut uniform =
                |n: usize| (0..n).map(|_| rng.random_range(-bound..bound)).collect::<Vec<f32>>();
            let (weight, bias) = (uniform(CLASSES * PIXELS), uniform(CLASSES));
            (weight, bias, State::fresh(data, device)?)
        }
        Start::Resume(checkpoint) => {
            if checkpoint.data_sha256 != data.sha256_by_name() {
                return Err(TrainError::Resume("the checkpoint was made with other data files"));
            }
            if checkpoint.order.len() != data.train.len() {
                return Err(TrainError::Resume(
                    "the checkpoint's example order does not fit the data",
                ));
            }
            rng.set_word_pos(checkpoint.rng_word_pos);
            let state = State::resumed(checkpoint, device)?;
            (checkpoint.weight.clone(), checkpoint.bias.clone(), state)
        }
    };
    let weight = Var::from_tensor(&Tensor::from_vec(weight, (CLASSES, PIXELS), device)?)?;
    let bias = Var::from_tensor(&Tensor::from_vec(bias, CLASSES, device)?)?;
    let vars = vec![weight.clone(), bias.clone()];
    let mut optimizer = match config.optimizer {
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
    if let (Start::Resume(checkpoint), AnyOptimizer::AdamW(adamw)) = (&start, &mut optimizer) {
        let moments =
            checkpoint.optimizer.as_ref().ok_or(TrainError::Resume("AdamW state missing"))?;
        adamw.restore(moments)?;
    }
    let model = Linear::new(weight.as_tensor().clone(), Some(bias.as_tensor().clone()));
    let run = Run { config, data, device, model: &model, checkpoint_every };
    run.run(state, &mut optimizer, &mut rng, on_event)
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

    fn state(&self) -> candle_core::Result<Option<AdamWState>> {
        match self {
            Self::Sgd(_) => Ok(None),
            Self::AdamW(o) => o.state().map(Some),
        }
    }
}

/// What changes from step to step, besides the parameters and the optimizer.
struct State {
    iteration: usize,
    order: Vec<u32>,
    /// Summed on the device, read only at log points: no per-step host round trip.
    loss_sum: Tensor,
    since_log: usize,
    history: Vec<LogPoint>,
    /// Training seconds before this process took over (resumed runs).
    seconds_before: f64,
}

impl State {
    fn fresh(data: &Mnist, device: &Device) -> candle_core::Result<Self> {
        Ok(Self {
            iteration: 0,
            order: (0..data.train.len() as u32).collect(),
            loss_sum: Tensor::zeros((), DType::F32, device)?,
            since_log: 0,
            history: Vec::new(),
            seconds_before: 0.0,
        })
    }

    fn resumed(checkpoint: &Checkpoint, device: &Device) -> candle_core::Result<Self> {
        Ok(Self {
            iteration: checkpoint.iteration,
            order: checkpoint.order.clone(),
            loss_sum: Tensor::new(checkpoint.loss_sum, device)?,
            since_log: checkpoint.since_log,
            history: checkpoint.history.clone(),
            seconds_before: checkpoint.seconds,
        })
    }
}

/// One run's fixed parts.
struct Run<'a> {
    config: &'a Config,
    data: &'a Mnist,
    device: &'a Device,
    model: &'a Linear,
    checkpoint_every: usize,
}

impl Run<'_> {
    /// The training loop: shuffled mini-batches, logging, divergence checks, checkpoints.
    fn run(
        &self,
        mut state: State,
        optimizer: &mut AnyOptimizer,
        rng: &mut ChaCha8Rng,
        on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> Result<Outcome, TrainError> {
        let (config, device, model) = (self.config, self.device, self.model);
        let started = std::time::Instant::now();
        let seconds = |state: &State| state.seconds_before + started.elapsed().as_secs_f64();
        let train = DeviceSplit::new(&self.data.train, device)?;
        let test = DeviceSplit::new(&self.data.test, device)?;
        let n = self.data.train.len();
        let steps_per_epoch = n.div_ceil(config.batch_size);
        let total = steps_per_epoch * config.epochs;
        let log_every = if config.log_every == 0 { steps_per_epoch } else { config.log_every };

        let mut epoch_order = None;
        while state.iteration < total {
            let step_in_epoch = state.iteration % steps_per_epoch;
            if step_in_epoch == 0 {
                state.order.shuffle(rng);
                epoch_order = None;
            }
            let order = match epoch_order {
                Some(ref order) => order,
                None => epoch_order.insert(Tensor::new(state.order.as_slice(), device)?),
            };
            let start = step_in_epoch * config.batch_size;
            let batch = order.narrow(0, start, config.batch_size.min(n - start))?;
            let images = train.images.index_select(&batch, 0)?;
            let labels = train.labels.index_select(&batch, 0)?;
            let loss = candle_nn::loss::cross_entropy(&model.forward(&images)?, &labels)?;
            optimizer.step(&loss, config.learning_rate_at(state.iteration, total))?;
            state.loss_sum = (&state.loss_sum + loss.detach())?;
            state.iteration += 1;
            state.since_log += 1;
            let iteration = state.iteration;
            let mut flow = on_event(Event::Step { done: iteration, total });
            if iteration.is_multiple_of(log_every) || iteration == total {
                let loss = loss.to_scalar::<f32>()?;
                let mean_loss = state.loss_sum.to_scalar::<f32>()? / state.since_log as f32;
                if [loss, mean_loss].iter().any(|l| l.is_nan() || *l > DIVERGED_LOSS) {
                    return Err(TrainError::Diverged { iteration, loss });
                }
                (state.loss_sum, state.since_log) = (state.loss_sum.zeros_like()?, 0);
                let test_accuracy = test.accuracy(model)?;
                let point = LogPoint { iteration, loss, mean_loss, test_accuracy };
                state.history.push(point);
                if on_event(Event::Log { point, seconds: seconds(&state) }).is_break() {
                    flow = ControlFlow::Break(());
                }
            }
            let due = self.checkpoint_every > 0 && iteration.is_multiple_of(self.checkpoint_every);
            if iteration < total && (due || flow.is_break()) {
                let checkpoint = self.checkpoint(&state, optimizer, rng, seconds(&state))?;
                if flow.is_break() {
                    return Ok(Outcome::Stopped(Box::new(checkpoint)));
                }
                flow = on_event(Event::Checkpoint(&checkpoint));
                if flow.is_break() {
                    return Ok(Outcome::Stopped(Box::new(checkpoint)));
                }
            }
        }
        let test_accuracy = state.history.last().map_or(0.0, |p| p.test_accuracy);
        let (weight, bias) = self.parameters()?;
        let model = FloatModel::new(weight, bias)?;
        Ok(Outcome::Finished(Trained { model, history: state.history, test_accuracy }))
    }

    /// The weight (flattened) and bias, copied to the host.
    fn parameters(&self) -> candle_core::Result<(Vec<f32>, Vec<f32>)> {
        let weight = self.model.weight().flatten_all()?.to_vec1::<f32>()?;
        let bias = self.model.bias().map(|b| b.to_vec1::<f32>()).transpose()?.unwrap_or_default();
        Ok((weight, bias))
    }

    fn checkpoint(
        &self,
        state: &State,
        optimizer: &AnyOptimizer,
        rng: &ChaCha8Rng,
        seconds: f64,
    ) -> Result<Checkpoint, TrainError> {
        let (weight, bias) = self.parameters()?;
        Ok(Checkpoint {
            config: self.config.clone(),
            data_sha256: self.data.sha256_by_name(),
            iteration: state.iteration,
            weight,
            bias,
            optimizer: optimizer.state()?,
            order: state.order.clone(),
            rng_word_pos: rng.get_word_pos(),
            loss_sum: state.loss_sum.to_scalar::<f32>()?,
            since_log: state.since_log,
            history: state.history.clone(),
            seconds,
        })
    }
}
