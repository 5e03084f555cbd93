//! A decoded model and inference with it.

use heapless::Vec;

use crate::{Error, MAX_CLASSES, blob, kernel, normalize_pixel, softmax};

/// One f32 per class (logits, probabilities, biases), kept on the stack.
pub type PerClass = Vec<f32, MAX_CLASSES>;

/// How the weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// IEEE-754 binary32 weights.
    F32,
    /// int8 weights with one f32 scale per class; integer dot product with raw pixels.
    Int8,
}

/// A validated model whose weights borrow the blob they were decoded from.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    inputs: usize,
    weights: Weights<'a>,
    bias: PerClass,
}

#[derive(Debug, Clone)]
pub(crate) enum Weights<'a> {
    /// Little-endian f32, `[class][input]`.
    F32(&'a [u8]),
    /// i8 as bytes, `[class][input]`, and per class `scale / 255`: the factor from the raw-pixel
    /// integer dot product to the logit.
    Int8 { weights: &'a [u8], pixel_scales: PerClass },
}

/// The outcome of classifying one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The most probable class; ties go to the lowest index.
    pub class: usize,
    /// The logits, one per class.
    pub logits: PerClass,
    /// softmax of the logits: finite, non-negative, summing to 1.
    pub probabilities: PerClass,
}

impl<'a> Model<'a> {
    pub(crate) fn new(inputs: usize, weights: Weights<'a>, bias: PerClass) -> Self {
        Self { inputs, weights, bias }
    }

    /// Decodes a blob (see [`blob`] for its layout) and validates all of it: magic, version,
    /// CRC-32, shape, array lengths, and that every value is finite. The weights are borrowed,
    /// not copied.
    pub fn from_blob(bytes: &'a [u8]) -> Result<Self, Error> {
        blob::decode(bytes)
    }

    /// Decodes the blob at the start of `region`, a fixed-size area such as a flash partition,
    /// with the same checks as [`from_blob`](Self::from_blob); whatever follows the blob (erased
    /// flash, an older longer blob) is ignored.
    pub fn from_region(region: &'a [u8]) -> Result<Self, Error> {
        blob::decode_prefix(region).map(|(model, _)| model)
    }

    /// Values per input: 784 for a 28x28 image.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.bias.len()
    }

    /// How the weights are stored.
    pub fn scheme(&self) -> Scheme {
        match self.weights {
            Weights::F32(_) => Scheme::F32,
            Weights::Int8 { .. } => Scheme::Int8,
        }
    }

    /// The logits for an image of raw pixels (0 = background, 255 = ink), row-major.
    pub fn logits(&self, image: &[u8]) -> Result<PerClass, Error> {
        self.check_input_len(image.len())?;
        Ok(match &self.weights {
            Weights::Int8 { weights, pixel_scales } => per_class(
                weights.chunks_exact(self.inputs).zip(pixel_scales.iter().zip(&self.bias)).map(
                    |(row, (&scale, &bias))| kernel::dot_i8_u8(row, image) as f32 * scale + bias,
                ),
            ),
            Weights::F32(weights) => {
                self.f32_logits(weights, image.iter().map(|&p| normalize_pixel(p)))
            }
        })
    }

    /// The logits for an already normalized input (pixels in `[0, 1]`, as the trainer feeds
    /// candle). Only for f32 models: an int8 model gives [`Error::SchemeMismatch`].
    pub fn logits_normalized(&self, input: &[f32]) -> Result<PerClass, Error> {
        self.check_input_len(input.len())?;
        match &self.weights {
            Weights::F32(weights) => Ok(self.f32_logits(weights, input.iter().copied())),
            Weights::Int8 { .. } => Err(Error::SchemeMismatch),
        }
    }

    /// The most probable class for an image, without computing probabilities.
    pub fn classify(&self, image: &[u8]) -> Result<usize, Error> {
        softmax::argmax(&self.logits(image)?)
    }

    /// Class, logits and probabilities for an image.
    pub fn predict(&self, image: &[u8]) -> Result<Prediction, Error> {
        let logits = self.logits(image)?;
        Ok(Prediction {
            class: softmax::argmax(&logits)?,
            probabilities: softmax::softmax(&logits)?,
            logits,
        })
    }

    fn f32_logits(&self, weights: &[u8], input: impl Iterator<Item = f32> + Clone) -> PerClass {
        per_class(
            weights
                .chunks_exact(self.inputs * 4)
                .zip(&self.bias)
                .map(|(row, &bias)| kernel::dot_f32(row, input.clone()) + bias),
        )
    }

    fn check_input_len(&self, found: usize) -> Result<(), Error> {
        if found == self.inputs {
            Ok(())
        } else {
            Err(Error::InputLength { expected: self.inputs, found })
        }
    }
}

/// Collects at most [`MAX_CLASSES`] values; callers pass no more (shapes are validated).
pub(crate) fn per_class(values: impl Iterator<Item = f32>) -> PerClass {
    let mut out = PerClass::new();
    for value in values.take(MAX_CLASSES) {
        if out.push(value).is_err() {
            break;
        }
    }
    out
}
