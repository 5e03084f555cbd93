//! Accuracy as the device computes it: through `infer-core`.

use std::fmt::{self, Write as _};

use infer_core::Model;
use serde::Serialize;

use crate::data::{CLASSES, PIXELS, Split};

/// Predictions on a labelled split, with the confusion matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// Examples classified as their label.
    pub correct: usize,
    /// Examples evaluated.
    pub total: usize,
    /// `confusion[label][predicted]`: how often each digit was taken for each other.
    pub confusion: [[usize; CLASSES]; CLASSES],
    /// The predicted class of every example, in order.
    pub predictions: Vec<u8>,
}

impl Evaluation {
    /// Percent correct.
    pub fn percent(&self) -> f64 {
        100.0 * self.correct as f64 / self.total.max(1) as f64
    }

    /// Percent of the examples labelled `class` that were classified as `class`.
    pub fn class_percent(&self, class: usize) -> f64 {
        let row = &self.confusion[class];
        100.0 * row[class] as f64 / row.iter().sum::<usize>().max(1) as f64
    }
}

/// A model of another shape than the data's: a blob is valid for any shape, but its answers on
/// MNIST would be nonsense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the model takes {inputs} inputs x {classes} classes; the data has {}-pixel images with \
     labels 0..{}",
    PIXELS,
    CLASSES - 1
)]
pub struct ShapeMismatch {
    /// The model's inputs.
    pub inputs: usize,
    /// The model's classes.
    pub classes: usize,
}

/// Why a split could not be evaluated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The model does not fit MNIST.
    #[error(transparent)]
    Shape(#[from] ShapeMismatch),
    /// infer-core refused an input.
    #[error(transparent)]
    Inference(#[from] infer_core::Error),
}

/// Whether `model` takes MNIST images and gives one class per digit.
pub fn check_shape(model: &Model<'_>) -> Result<(), ShapeMismatch> {
    let (inputs, classes) = (model.inputs(), model.classes());
    if (inputs, classes) == (PIXELS, CLASSES) {
        Ok(())
    } else {
        Err(ShapeMismatch { inputs, classes })
    }
}

/// Classifies every image of `split` with `model` (any scheme), several images per pass over
/// the weights (`Model::logits_batch`).
pub fn evaluate(model: &Model<'_>, split: &Split) -> Result<Evaluation, EvalError> {
    check_shape(model)?;
    let mut confusion = [[0; CLASSES]; CLASSES];
    let mut predictions = Vec::with_capacity(split.len());
    for (logits, &label) in model.logits_batch(&split.images)?.zip(&split.labels) {
        let predicted = infer_core::softmax::argmax(&logits)?;
        confusion[usize::from(label)][predicted] += 1;
        predictions.push(predicted as u8);
    }
    let correct = (0..CLASSES).map(|c| confusion[c][c]).sum();
    Ok(Evaluation { correct, total: split.len(), confusion, predictions })
}

/// Per-class accuracy and the confusion matrix as an aligned table.
impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut header = String::from("label  accuracy |");
        (0..CLASSES).for_each(|c| write!(header, "{c:>6}").unwrap_or_default());
        writeln!(f, "{header}   <- predicted")?;
        writeln!(f, "{}", "-".repeat(header.len()))?;
        for (label, row) in self.confusion.iter().enumerate() {
            write!(f, "{label:>5}  {:>7.2}% |", self.class_percent(label))?;
            for count in row {
                write!(f, "{count:>6}")?;
            }
            writeln!(f)?;
        }
        write!(f, "total  {:>7.2}%  ({} of {})", self.percent(), self.correct, self.total)
    }
}
