//! Accuracy as the device computes it: through `infer-core`.

use infer_core::Model;

use crate::data::Split;

/// Correct predictions out of a total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accuracy {
    /// Examples classified as their label.
    pub correct: usize,
    /// Examples evaluated.
    pub total: usize,
}

impl Accuracy {
    /// Percent correct.
    pub fn percent(&self) -> f64 {
        100.0 * self.correct as f64 / self.total.max(1) as f64
    }
}

/// Classifies every image of `split` with `model` (either scheme) and counts the hits.
pub fn accuracy(model: &Model<'_>, split: &Split) -> Result<Accuracy, infer_core::Error> {
    let mut correct = 0;
    for (image, &label) in split.images.chunks_exact(model.inputs()).zip(&split.labels) {
        correct += usize::from(model.classify(image)? == usize::from(label));
    }
    Ok(Accuracy { correct, total: split.len() })
}
