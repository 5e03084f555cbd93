//! A decoded model and inference with it.

use heapless::Vec;

use crate::{Error, MAX_CLASSES, blob, kernel, normalize_pixel, softmax};

/// One f32 per class (logits, probabilities, biases), kept on the stack.
pub type PerClass = Vec<f32, MAX_CLASSES>;

/// Room for one value per class; the first `classes` are meaningful.
pub(crate) type Scratch = [f32; MAX_CLASSES];

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
    classes: usize,
    bias: Scratch,
}

#[derive(Debug, Clone)]
pub(crate) enum Weights<'a> {
    /// Little-endian f32, `[class][input]`.
    F32(&'a [u8]),
    /// i8 as bytes, `[class][input]`, and per class `scale / 255`: the factor from the raw-pixel
    /// integer dot product to the logit.
    Int8 { weights: &'a [u8], pixel_scales: Scratch },
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
    pub(crate) fn new(inputs: usize, classes: usize, weights: Weights<'a>, bias: Scratch) -> Self {
        Self { inputs, classes, weights, bias }
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
        self.classes
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
        let logits = self.logits_with(image, kernel::int8_dots)?;
        Ok(per_class(self.used(&logits)))
    }

    /// [`logits`](Self::logits) computed with the portable reference kernel only. `logits` uses
    /// the fastest kernel of the target and equals this bit for bit; firmware can check that.
    pub fn logits_reference(&self, image: &[u8]) -> Result<PerClass, Error> {
        let logits = self.logits_with(image, kernel::portable::int8_dots)?;
        Ok(per_class(self.used(&logits)))
    }

    /// The logits for an already normalized input (pixels in `[0, 1]`, as the trainer feeds
    /// candle). Only for f32 models: an int8 model gives [`Error::SchemeMismatch`]. A NaN or
    /// infinite input value gives [`Error::InvalidInput`]; finite values far outside `[0, 1]`
    /// may overflow logits to infinity, which [`softmax`](crate::softmax) takes to its limits.
    pub fn logits_normalized(&self, input: &[f32]) -> Result<PerClass, Error> {
        self.check_input_len(input.len())?;
        match &self.weights {
            Weights::F32(_) if !input.iter().all(|x| x.is_finite()) => Err(Error::InvalidInput),
            Weights::F32(weights) => {
                Ok(per_class(self.used(&self.f32_logits(weights, input, |x| x))))
            }
            Weights::Int8 { .. } => Err(Error::SchemeMismatch),
        }
    }

    /// The most probable class for an image, without computing probabilities.
    pub fn classify(&self, image: &[u8]) -> Result<usize, Error> {
        softmax::argmax(self.used(&self.logits_with(image, kernel::int8_dots)?))
    }

    /// Class, logits and probabilities for an image.
    pub fn predict(&self, image: &[u8]) -> Result<Prediction, Error> {
        let logits = self.logits_with(image, kernel::int8_dots)?;
        let logits = self.used(&logits);
        Ok(Prediction {
            class: softmax::argmax(logits)?,
            probabilities: softmax::softmax(logits)?,
            logits: per_class(logits),
        })
    }

    /// Logits in a scratch array, of which the first `classes()` are used.
    fn logits_with(
        &self,
        image: &[u8],
        dots: fn(&[u8], &[u8], &mut [i32]),
    ) -> Result<Scratch, Error> {
        self.check_input_len(image.len())?;
        Ok(match &self.weights {
            Weights::Int8 { weights, pixel_scales } => {
                let mut sums = [0; MAX_CLASSES];
                let sums = &mut sums[..self.classes];
                dots(weights, image, sums);
                let mut logits = [0.0; MAX_CLASSES];
                for (logit, ((&dot, &scale), &bias)) in
                    logits.iter_mut().zip(sums.iter().zip(pixel_scales).zip(&self.bias))
                {
                    *logit = dot as f32 * scale + bias;
                }
                logits
            }
            Weights::F32(weights) => self.f32_logits_of_pixels(weights, image),
        })
    }

    fn f32_logits<T: Copy>(
        &self,
        weights: &[u8],
        input: &[T],
        x: impl Fn(T) -> f32 + Copy,
    ) -> Scratch {
        let mut logits = [0.0; MAX_CLASSES];
        for ((logit, row), &bias) in
            logits.iter_mut().zip(weights.chunks_exact(self.inputs * 4)).zip(&self.bias)
        {
            *logit = kernel::dot_f32(row, input, x) + bias;
        }
        logits
    }

    /// Normalizes the pixels once where the stack allows it (64-bit hosts), else per use;
    /// the values, and so the logits, are the same either way.
    fn f32_logits_of_pixels(&self, weights: &[u8], image: &[u8]) -> Scratch {
        #[cfg(target_pointer_width = "64")]
        if image.len() <= kernel::MAX_BUFFERED_INPUTS {
            let mut buffer = [0.0; kernel::MAX_BUFFERED_INPUTS];
            for (x, &p) in buffer.iter_mut().zip(image) {
                *x = normalize_pixel(p);
            }
            return self.f32_logits(weights, &buffer[..image.len()], |x| x);
        }
        self.f32_logits(weights, image, normalize_pixel)
    }

    fn used<'s>(&self, scratch: &'s Scratch) -> &'s [f32] {
        &scratch[..self.classes]
    }

    fn check_input_len(&self, found: usize) -> Result<(), Error> {
        if found == self.inputs {
            Ok(())
        } else {
            Err(Error::InputLength { expected: self.inputs, found })
        }
    }
}

/// The first `values.len()` entries of a scratch array as a [`PerClass`]; callers never pass
/// more than [`MAX_CLASSES`] (shapes are validated), so nothing is ever dropped.
pub(crate) fn per_class(values: &[f32]) -> PerClass {
    PerClass::from_slice(values).unwrap_or_default()
}
