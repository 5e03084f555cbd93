//! The training history: what `train` logs and `plot` draws, kept in the safetensors metadata.
//!
//! No wall-clock time: the same seed gives the same files. Files written before kept `seconds`
//! in each point; reading ignores it.

use serde::{Deserialize, Serialize};

/// Loss and test accuracy at one point of training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogPoint {
    /// Iterations done (1-based, as the tutorial counts).
    pub iteration: usize,
    /// Cross-entropy of the last mini-batch (what the tutorial prints).
    pub loss: f32,
    /// Mean cross-entropy of the mini-batches since the previous point.
    pub mean_loss: f32,
    /// Float test accuracy, percent.
    pub test_accuracy: f64,
}
