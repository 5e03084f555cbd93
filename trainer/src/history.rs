//! The training history: what `train` logs and `plot` draws, kept in the safetensors metadata.

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
    /// Seconds since training started (data on the device), at this point.
    pub seconds: f64,
}
