//! The settings vocabulary of a training run: presets, update rules, schedules, and the
//! [`Config`] they make, stored in checkpoints and in the model files' metadata.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

/// A named set of hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

    /// The learning rate for `iteration` of `total`.
    pub fn learning_rate_at(&self, iteration: usize, total: usize) -> f64 {
        match self.schedule {
            Schedule::Constant => self.learning_rate,
            Schedule::Cosine => {
                self.learning_rate * 0.5 * (1.0 + (PI * iteration as f64 / total as f64).cos())
            }
        }
    }
}
