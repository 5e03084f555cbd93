//! Checkpoints: everything a run needs to continue exactly where it stopped, as safetensors.
//!
//! Parameters, AdamW moments, the current epoch's example order, the shuffling RNG's position,
//! the loss accumulated since the last log point and the history so far: a resumed run makes
//! the same floating-point operations in the same order as an uninterrupted one, so it ends
//! with the same bits.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::Dtype;

use crate::bytes::{f32s_from_le, f32s_to_le, u32s_from_le, u32s_to_le};
use crate::data::{CLASSES, PIXELS};
use crate::history::LogPoint;
use crate::model::{BIAS, WEIGHT};
use crate::optim::AdamWState;
use crate::safetensors_file::{self as file, FileError, Metadata};
use crate::settings::{Config, OptimizerKind};
/// The value of the `format` metadata key.
const FORMAT: &str = "mnist-logistic-regression-checkpoint";
/// Version of this layout.
const VERSION: &str = "1";
const ORDER: &str = "order";
/// AdamW's moment tensors: first and second, of the weight then the bias.
const MOMENTS: [&str; 4] = [
    "adamw.linear.weight.m",
    "adamw.linear.weight.v",
    "adamw.linear.bias.m",
    "adamw.linear.bias.v",
];

/// A paused training run.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The run's settings.
    pub config: Config,
    /// SHA-256 of the data files it trains on, by name: a resumed run must use the same.
    pub data_sha256: BTreeMap<String, String>,
    /// Iterations done.
    pub iteration: usize,
    /// `linear.weight`, `[10][784]` row-major.
    pub weight: Vec<f32>,
    /// `linear.bias`.
    pub bias: Vec<f32>,
    /// AdamW's state (`None` for SGD, which has none).
    pub optimizer: Option<AdamWState>,
    /// The current epoch's order of the training examples.
    pub order: Vec<u32>,
    /// The shuffling RNG's position (ChaCha8 word position, after this epoch's shuffle).
    pub rng_word_pos: u128,
    /// Sum of the mini-batch losses since the last log point, and their number.
    pub loss_sum: f32,
    /// Steps since the last log point.
    pub since_log: usize,
    /// Logged points so far.
    pub history: Vec<LogPoint>,
    /// Training seconds so far, so the progress log's clock continues (not in model files).
    pub seconds: f64,
}

impl Checkpoint {
    /// The checkpoint as a safetensors file.
    pub fn to_safetensors(&self) -> Result<Vec<u8>, FileError> {
        let metadata = Metadata::from([
            ("format".into(), FORMAT.into()),
            ("checkpoint_version".into(), VERSION.into()),
            ("config".into(), json(&self.config)?),
            ("data_sha256".into(), json(&self.data_sha256)?),
            ("iteration".into(), self.iteration.to_string()),
            ("rng_word_pos".into(), self.rng_word_pos.to_string()),
            ("loss_sum_bits".into(), self.loss_sum.to_bits().to_string()),
            ("since_log".into(), self.since_log.to_string()),
            ("history".into(), json(&self.history)?),
            ("seconds".into(), self.seconds.to_string()),
            ("adamw_step".into(), self.optimizer.as_ref().map_or(0, |o| o.step).to_string()),
        ]);
        let (weight, bias) = (f32s_to_le(&self.weight), f32s_to_le(&self.bias));
        let order = u32s_to_le(&self.order);
        let moments: Vec<Vec<u8>> = self
            .optimizer
            .iter()
            .flat_map(|o| o.moments.iter().flat_map(|(m, v)| [m, v]))
            .map(|values| f32s_to_le(values))
            .collect();
        let shapes = [vec![CLASSES, PIXELS], vec![CLASSES]];
        let tensors =
            [
                (WEIGHT, Dtype::F32, shapes[0].clone(), &weight[..]),
                (BIAS, Dtype::F32, shapes[1].clone(), &bias[..]),
                (ORDER, Dtype::U32, vec![self.order.len()], &order[..]),
            ]
            .into_iter()
            .chain(
                MOMENTS.iter().zip(&moments).enumerate().map(|(i, (name, bytes))| {
                    (*name, Dtype::F32, shapes[i / 2].clone(), &bytes[..])
                }),
            );
        file::serialize(tensors, &metadata)
    }

    /// Reads a checkpoint written by [`to_safetensors`](Self::to_safetensors).
    pub fn read(path: &Path) -> Result<Self, FileError> {
        Self::parse(path, &file::read(path)?)
    }

    /// [`read`](Self::read) on bytes already read from `path`.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, FileError> {
        let invalid = |problem: String| FileError::Checkpoint { path: path.into(), problem };
        let metadata = file::metadata(path, bytes)?;
        let get = |key: &str| {
            metadata.get(key).ok_or_else(|| invalid(format!("metadata `{key}` is missing")))
        };
        if get("format")? != FORMAT {
            return Err(invalid("not a training checkpoint (metadata `format`)".into()));
        }
        if get("checkpoint_version")? != VERSION {
            return Err(invalid(format!(
                "checkpoint version {} is not supported",
                get("checkpoint_version")?
            )));
        }
        fn value<T: std::str::FromStr>(text: &str, key: &str) -> Result<T, String> {
            text.parse().map_err(|_| format!("metadata `{key}` is not a valid value: {text}"))
        }
        fn from_json<T: serde::de::DeserializeOwned>(text: &str, key: &str) -> Result<T, String> {
            serde_json::from_str(text).map_err(|e| format!("metadata `{key}`: {e}"))
        }
        let tensors = file::parse(path, bytes)?;
        let f32s = |name: &'static str, shape: &[usize]| {
            file::tensor(path, &tensors, name, Dtype::F32, shape).map(f32s_from_le)
        };
        let order_len = tensors.tensor(ORDER).map(|t| t.shape().iter().product()).unwrap_or(0);
        let order = u32s_from_le(file::tensor(path, &tensors, ORDER, Dtype::U32, &[order_len])?);
        let config: Config = from_json(get("config")?, "config").map_err(invalid)?;
        let optimizer = match config.optimizer {
            OptimizerKind::Sgd => None,
            OptimizerKind::AdamW => {
                let shapes = [[CLASSES, PIXELS].as_slice(), &[CLASSES]];
                let [wm, wv, bm, bv] = [0, 1, 2, 3].map(|i| f32s(MOMENTS[i], shapes[i / 2]));
                Some(AdamWState {
                    step: value(get("adamw_step")?, "adamw_step").map_err(invalid)?,
                    moments: vec![(wm?, wv?), (bm?, bv?)],
                })
            }
        };
        let checkpoint = Checkpoint {
            config,
            data_sha256: from_json(get("data_sha256")?, "data_sha256").map_err(invalid)?,
            iteration: value(get("iteration")?, "iteration").map_err(invalid)?,
            weight: f32s(WEIGHT, &[CLASSES, PIXELS])?,
            bias: f32s(BIAS, &[CLASSES])?,
            optimizer,
            order,
            rng_word_pos: value(get("rng_word_pos")?, "rng_word_pos").map_err(invalid)?,
            loss_sum: f32::from_bits(
                value(get("loss_sum_bits")?, "loss_sum_bits").map_err(invalid)?,
            ),
            since_log: value(get("since_log")?, "since_log").map_err(invalid)?,
            history: from_json(get("history")?, "history").map_err(invalid)?,
            seconds: value(get("seconds")?, "seconds").map_err(invalid)?,
        };
        checkpoint.check().map_err(invalid)?;
        Ok(checkpoint)
    }

    /// Values a written checkpoint always has: finite parameters and state, a permutation.
    fn check(&self) -> Result<(), String> {
        let moments =
            self.optimizer.iter().flat_map(|o| o.moments.iter().flat_map(|(m, v)| [m, v]));
        if !self.weight.iter().chain(&self.bias).chain(moments.flatten()).all(|v| v.is_finite()) {
            return Err("parameters or optimizer state hold NaN or infinite values".into());
        }
        let mut seen = vec![false; self.order.len()];
        for &i in &self.order {
            match seen.get_mut(i as usize) {
                Some(s) if !*s => *s = true,
                _ => return Err("the example order is not a permutation".into()),
            }
        }
        if !self.loss_sum.is_finite() {
            return Err("the accumulated loss is not finite".into());
        }
        Ok(())
    }
}

/// A metadata value as JSON.
fn json(value: &impl serde::Serialize) -> Result<String, FileError> {
    serde_json::to_string(value).map_err(|e| FileError::Serialize(e.to_string()))
}
