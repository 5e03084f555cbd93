//! Training with candle: the loop, its events, evaluation and divergence checks.

use std::ops::ControlFlow;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::ParamsAdamW;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::batch::{self, HostBatch};
use crate::checkpoint::Checkpoint;
use crate::data::{CLASSES, Mnist, PIXELS};
use crate::history::LogPoint;
use crate::linear::{self, Batch, INPUTS};
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
    /// The training thread could not be started.
    #[error("cannot start the training thread: {0}")]
    Thread(#[from] rayon::ThreadPoolBuildError),
}

/// A loss above this (100 times that of a uniform guess over ten classes, ln 10) or NaN means
/// the run diverged, even where the arg-max still looks sane.
pub const DIVERGED_LOSS: f32 = 100.0 * std::f32::consts::LN_10;

/// Trains a 784 -> 10 linear layer with softmax cross-entropy on `data.train`, from scratch or
/// from a checkpoint, reporting [`Event`]s (with a checkpoint every `checkpoint_every`
/// iterations; 0: never).
///
/// On the CPU, candle's kernels run on one thread of a pool of their own, whatever
/// `RAYON_NUM_THREADS` says: this model's operations are too small to gain from splitting (the
/// hand-offs between threads cost more), and a seed gives the same bits on any machine.
pub fn train(
    data: &Mnist,
    device: &Device,
    start: Start,
    checkpoint_every: usize,
    on_event: &mut (dyn FnMut(Event<'_>) -> ControlFlow<()> + Send),
) -> Result<Outcome, TrainError> {
    let config = start.config();
    if config.batch_size == 0 || config.epochs == 0 || data.train.is_empty() || data.test.is_empty()
    {
        return Err(TrainError::Config("batch size, epochs and both splits must be non-empty"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let (params, state) = match &start {
        Start::Fresh(_) => {
            // As PyTorch's nn.Linear: weight and bias uniform in +-1/sqrt(fan_in).
            let bound = 1.0 / (PIXELS as f32).sqrt();
            let mut uniform =
                |n: usize| (0..n).map(|_| rng.random_range(-bound..bound)).collect::<Vec<f32>>();
            let (weight, bias) = (uniform(CLASSES * PIXELS), uniform(CLASSES));
            (linear::pack(&weight, &bias), State::fresh(data, device)?)
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
            (linear::pack(&checkpoint.weight, &checkpoint.bias), state)
        }
    };
    let params = Tensor::from_vec(params, (CLASSES, INPUTS), device)?;
    let mut optimizer = match config.optimizer {
        OptimizerKind::Sgd => AnyOptimizer::Sgd,
        OptimizerKind::AdamW => AnyOptimizer::AdamW(AdamW::new(
            &params,
            ParamsAdamW {
                lr: config.learning_rate,
                weight_decay: config.weight_decay,
                ..ParamsAdamW::default()
            },
        )?),
    };
    if let (Start::Resume(checkpoint), AnyOptimizer::AdamW(adamw)) = (&start, &mut optimizer) {
        let saved =
            checkpoint.optimizer.as_ref().ok_or(TrainError::Resume("AdamW state missing"))?;
        let [(weight_m, weight_v), (bias_m, bias_v)] = saved.moments.as_slice() else {
            return Err(TrainError::Resume("AdamW state is not that of a weight and a bias"));
        };
        let (first, second) = (linear::pack(weight_m, bias_m), linear::pack(weight_v, bias_v));
        adamw.restore(saved.step, &first, &second)?;
    }
    let mut learner = Learner { params, optimizer };
    let run = Run::new(config, data, device, checkpoint_every);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    pool.install(|| run.run(&mut learner, state, &mut rng, on_event))
}

/// The configured update rule.
enum AnyOptimizer {
    /// Plain SGD, as candle-nn's: `theta - lr * g`.
    Sgd,
    AdamW(AdamW),
}

impl AnyOptimizer {
    /// `theta` after one update with gradient `g`.
    fn update(&mut self, theta: &Tensor, g: &Tensor, lr: f64) -> candle_core::Result<Tensor> {
        match self {
            Self::Sgd => theta - (g * lr)?,
            Self::AdamW(o) => {
                o.set_learning_rate(lr);
                o.update(theta, g)
            }
        }
    }

    /// The AdamW state, per parameter (weight, then bias).
    fn state(&self) -> candle_core::Result<Option<AdamWState>> {
        let Self::AdamW(o) = self else { return Ok(None) };
        let (step, first, second) = o.state()?;
        let ((weight_m, bias_m), (weight_v, bias_v)) =
            (linear::unpack(&first), linear::unpack(&second));
        Ok(Some(AdamWState { step, moments: vec![(weight_m, weight_v), (bias_m, bias_v)] }))
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

/// Test examples converted to f32 at a time: the whole test split would be 31 MB more, and
/// chunks of a default batch's size reuse the memory the training batches free.
const TEST_ROWS: usize = 100;

/// One run's fixed parts.
struct Run<'a> {
    config: &'a Config,
    data: &'a Mnist,
    device: &'a Device,
    checkpoint_every: usize,
    steps_per_epoch: usize,
    /// Iterations in the run.
    total: usize,
    log_every: usize,
    started: Instant,
}

/// What a step updates besides the [`State`].
struct Learner {
    /// The packed parameters ([`linear`]).
    params: Tensor,
    optimizer: AnyOptimizer,
}

impl<'a> Run<'a> {
    fn new(
        config: &'a Config,
        data: &'a Mnist,
        device: &'a Device,
        checkpoint_every: usize,
    ) -> Self {
        let steps_per_epoch = data.train.len().div_ceil(config.batch_size);
        Self {
            config,
            data,
            device,
            checkpoint_every,
            steps_per_epoch,
            total: steps_per_epoch * config.epochs,
            log_every: if config.log_every == 0 { steps_per_epoch } else { config.log_every },
            started: Instant::now(),
        }
    }

    /// The training loop: epochs of shuffled mini-batches, each gathered on another thread
    /// while the step before it runs.
    fn run(
        &self,
        learner: &mut Learner,
        mut state: State,
        rng: &mut ChaCha8Rng,
        on_event: &mut (dyn FnMut(Event<'_>) -> ControlFlow<()> + Send),
    ) -> Result<Outcome, TrainError> {
        while state.iteration < self.total {
            let step_in_epoch = state.iteration % self.steps_per_epoch;
            if step_in_epoch == 0 {
                state.order.shuffle(rng);
            }
            let (order, rng) = (state.order.clone(), &*rng);
            let steps = step_in_epoch..self.steps_per_epoch;
            let stopped = std::thread::scope(|scope| {
                let train = &self.data.train;
                for batch in batch::prefetch(scope, train, &order, self.config.batch_size, steps) {
                    let batch = batch.to_device(self.device)?;
                    if let Some(checkpoint) =
                        self.step(learner, &mut state, &batch, rng, on_event)?
                    {
                        return Ok(Some(checkpoint));
                    }
                }
                Ok::<_, TrainError>(None)
            })?;
            if let Some(checkpoint) = stopped {
                return Ok(Outcome::Stopped(Box::new(checkpoint)));
            }
        }
        let test_accuracy = state.history.last().map_or(0.0, |p| p.test_accuracy);
        let (weight, bias) = parameters(&learner.params)?;
        let model = FloatModel::new(weight, bias)?;
        Ok(Outcome::Finished(Trained { model, history: state.history, test_accuracy }))
    }

    /// One update and its events (a log point, a checkpoint); the checkpoint to stop at, if an
    /// event asked to stop.
    fn step(
        &self,
        learner: &mut Learner,
        state: &mut State,
        batch: &Batch,
        rng: &ChaCha8Rng,
        on_event: &mut (dyn FnMut(Event<'_>) -> ControlFlow<()> + Send),
    ) -> Result<Option<Checkpoint>, TrainError> {
        let (loss, gradient) = linear::loss_and_gradient(&learner.params, batch)?;
        let lr = self.config.learning_rate_at(state.iteration, self.total);
        learner.params = learner.optimizer.update(&learner.params, &gradient, lr)?;
        state.loss_sum = (&state.loss_sum + &loss)?;
        state.iteration += 1;
        state.since_log += 1;
        let (iteration, total) = (state.iteration, self.total);
        let mut flow = on_event(Event::Step { done: iteration, total });
        if iteration.is_multiple_of(self.log_every) || iteration == total {
            let point = self.log_point(&learner.params, state, &loss)?;
            if on_event(Event::Log { point, seconds: self.seconds(state) }).is_break() {
                flow = ControlFlow::Break(());
            }
        }
        let due = self.checkpoint_every > 0 && iteration.is_multiple_of(self.checkpoint_every);
        if iteration < total && (due || flow.is_break()) {
            let checkpoint = self.checkpoint(learner, state, rng)?;
            if flow.is_break() || on_event(Event::Checkpoint(&checkpoint)).is_break() {
                return Ok(Some(checkpoint));
            }
        }
        Ok(None)
    }

    /// The loss of the last batch and since the last point, and the test accuracy, added to
    /// the history; fails if the loss diverged.
    fn log_point(
        &self,
        params: &Tensor,
        state: &mut State,
        loss: &Tensor,
    ) -> Result<LogPoint, TrainError> {
        let iteration = state.iteration;
        let loss = loss.to_scalar::<f32>()?;
        let mean_loss = state.loss_sum.to_scalar::<f32>()? / state.since_log as f32;
        if [loss, mean_loss].iter().any(|l| l.is_nan() || *l > DIVERGED_LOSS) {
            return Err(TrainError::Diverged { iteration, loss });
        }
        (state.loss_sum, state.since_log) = (state.loss_sum.zeros_like()?, 0);
        let test_accuracy = self.test_accuracy(params)?;
        let point = LogPoint { iteration, loss, mean_loss, test_accuracy };
        state.history.push(point);
        Ok(point)
    }

    /// Percent of the test split classified as labelled, [`TEST_ROWS`] examples at a time.
    fn test_accuracy(&self, params: &Tensor) -> candle_core::Result<f64> {
        let test = &self.data.test;
        let mut correct = 0;
        for start in (0..test.len()).step_by(TEST_ROWS) {
            let rows = start..test.len().min(start + TEST_ROWS);
            correct +=
                linear::correct(params, &HostBatch::rows(test, rows).to_device(self.device)?)?;
        }
        Ok(100.0 * correct as f64 / test.len() as f64)
    }

    /// Training seconds so far, with those of the run this one resumes.
    fn seconds(&self, state: &State) -> f64 {
        state.seconds_before + self.started.elapsed().as_secs_f64()
    }

    fn checkpoint(
        &self,
        learner: &Learner,
        state: &State,
        rng: &ChaCha8Rng,
    ) -> Result<Checkpoint, TrainError> {
        let (weight, bias) = parameters(&learner.params)?;
        Ok(Checkpoint {
            config: self.config.clone(),
            data_sha256: self.data.sha256_by_name(),
            iteration: state.iteration,
            weight,
            bias,
            optimizer: learner.optimizer.state()?,
            order: state.order.clone(),
            rng_word_pos: rng.get_word_pos(),
            loss_sum: state.loss_sum.to_scalar::<f32>()?,
            since_log: state.since_log,
            history: state.history.clone(),
            seconds: self.seconds(state),
        })
    }
}

/// The packed parameters, copied to the host as the weight (flattened) and the bias.
fn parameters(params: &Tensor) -> candle_core::Result<(Vec<f32>, Vec<f32>)> {
    Ok(linear::unpack(&params.flatten_all()?.to_vec1::<f32>()?))
}
