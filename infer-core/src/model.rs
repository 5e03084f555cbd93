//! The runtime model over a validated [`Blob`], and inference with it, as the
//! [`blob`](crate::blob) docs define it.

use heapless::Vec;

use crate::blob::{Arrays, Blob, Scheme};
use crate::kernel::Packing;
use crate::values::{PerClass, Scratch, f32s, per_class};
use crate::{Error, MAX_CLASSES, kernel, softmax};

/// A validated model: its arrays stay in the blob, read in place at every inference.
#[derive(Debug, Clone, Copy)]
pub struct Model<'a> {
    blob: Blob<'a>,
    /// What the quantized kernel computes from the weights once (nothing on most builds).
    prepared: kernel::Prepared,
}

/// The outcome of classifying one input.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Prediction {
    /// The most probable class; ties go to the lowest index.
    pub class: usize,
    /// The logits, one per class.
    pub logits: PerClass,
    /// softmax of the logits: finite, non-negative, summing to 1.
    pub probabilities: PerClass,
}

/// Maps a raw pixel to the `[0, 1]` input the float model was trained on, exactly as
/// PyTorch's `ToTensor` does (`p as f32 / 255.0`). The trainer uses this same function.
#[inline]
pub fn normalize_pixel(pixel: u8) -> f32 {
    f32::from(pixel) / 255.0
}

/// A quantized kernel: [`kernel::Prepared::dots`] or [`kernel::portable_dots`].
type Dots =
    for<'s> fn(&kernel::Prepared, Packing, &[u8], &[u8], usize, &'s mut kernel::Sums) -> &'s [i32];

/// The arrays of a quantized model: packing, weights, scales, bias.
type Quantized<'a> = (Packing, &'a [u8], &'a [u8], &'a [u8]);

/// A blob's arrays as inference uses them: the quantized schemes share one path.
enum Weights<'a> {
    #[cfg(feature = "f32")]
    F32 { weights: &'a [u8], bias: &'a [u8] },
    #[cfg(any(feature = "int8", feature = "int4"))]
    Quantized(Quantized<'a>),
}

impl<'a> From<Arrays<'a>> for Weights<'a> {
    fn from(arrays: Arrays<'a>) -> Self {
        match arrays {
            #[cfg(feature = "f32")]
            Arrays::F32 { weights, bias } => Self::F32 { weights, bias },
            #[cfg(feature = "int8")]
            Arrays::Int8 { weights, scales, bias } => {
                Self::Quantized((Packing::Int8, weights, scales, bias))
            }
            #[cfg(feature = "int4")]
            Arrays::Int4 { weights, scales, bias } => {
                Self::Quantized((Packing::Int4, weights, scales, bias))
            }
        }
    }
}

/// The index of the first largest of `logits`, as [`softmax::argmax`] finds it in a slice, but
/// as they are computed, without an array to fill: with the SMLAD and Helium kernels, filling
/// and scanning an array is a sizable share of a quantized `classify` (with the portable kernel
/// a small one, not worth the code).
/// Quantized logits are never NaN (finite scales and biases, exact sums), so there is no error; a
/// NaN would not be picked.
#[cfg(any(test, all(target_arch = "arm", any(feature = "arm-dsp", feature = "arm-mve"))))]
fn first_largest(logits: impl Iterator<Item = f32>) -> usize {
    let (mut class, mut max) = (0, f32::NEG_INFINITY);
    for (c, logit) in logits.enumerate() {
        if logit > max {
            (class, max) = (c, logit);
        }
    }
    class
}

/// `dots` plus the bias, into `logits`, which it returns.
#[cfg(target_pointer_width = "64")]
fn add_bias<'s>(logits: &'s mut [f32], dots: &[f32; MAX_CLASSES], bias: &[u8]) -> &'s mut [f32] {
    for ((logit, dot), bias) in logits.iter_mut().zip(dots).zip(f32s(bias)) {
        *logit = dot + bias;
    }
    logits
}

/// A quantized logit from its exact dot product, as the [`blob`](crate::blob) docs define it.
#[inline(always)]
fn quantized_logit((&sum, (scale, bias)): (&i32, (f32, f32))) -> f32 {
    sum as f32 * (scale / 255.0) + bias
}

impl<'a> From<Blob<'a>> for Model<'a> {
    fn from(blob: Blob<'a>) -> Self {
        let prepared = match Weights::from(blob.arrays()) {
            #[cfg(any(feature = "int8", feature = "int4"))]
            Weights::Quantized((packing, weights, ..)) => {
                kernel::Prepared::new(packing, weights, blob.inputs())
            }
            #[cfg(feature = "f32")]
            Weights::F32 { .. } => kernel::Prepared::default(),
        };
        Self { blob, prepared }
    }
}

impl<'a> Model<'a> {
    /// Validates a blob (see [`blob`](crate::blob) for its layout and checks) and builds the
    /// model: the weights are borrowed, not copied.
    pub fn from_blob(bytes: &'a [u8]) -> Result<Self, Error> {
        Blob::parse(bytes).map(Self::from)
    }

    /// Builds the model from the blob at the start of `region`, a fixed-size area such as a
    /// flash partition, with the same checks as [`from_blob`](Self::from_blob); whatever
    /// follows the blob (erased flash, an older longer blob) is ignored.
    pub fn from_region(region: &'a [u8]) -> Result<Self, Error> {
        Blob::parse_prefix(region).map(|(blob, _)| Self::from(blob))
    }

    /// Values per input: 784 for a 28x28 image.
    pub fn inputs(&self) -> usize {
        self.blob.inputs()
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.blob.classes()
    }

    /// How the weights are stored.
    pub fn scheme(&self) -> Scheme {
        self.blob.scheme()
    }

    /// The logits for an image of raw pixels (0 = background, 255 = ink), row-major, with the
    /// fastest kernel of the target.
    pub fn logits(&self, image: &[u8]) -> Result<PerClass, Error> {
        self.logits_with(image, kernel::Prepared::dots, &mut [0.0; MAX_CLASSES]).map(per_class)
    }

    /// The logits of every image in `images` (`inputs()` raw pixels each, back to back), in
    /// order, equal bit for bit to [`logits`](Self::logits) of each: on 64-bit hosts computed
    /// four images per pass over the weights, which is faster than one by one. A length that is
    /// not a whole number of images is refused before anything is computed, with
    /// [`Error::InputLength`] naming the pixels of the incomplete last image.
    pub fn logits_batch<'m>(
        &'m self,
        images: &'m [u8],
    ) -> Result<impl Iterator<Item = PerClass> + 'm, Error> {
        let inputs = self.inputs();
        match images.len().checked_rem(inputs) {
            Some(0) => {}
            found => {
                return Err(Error::InputLength { expected: inputs, found: found.unwrap_or(0) });
            }
        }
        let group = inputs * kernel::GROUP;
        Ok(images.chunks(group).flat_map(move |images| self.group_logits(images)))
    }

    /// The logits of up to [`kernel::GROUP`] images: together where the target has a group
    /// kernel, else one by one.
    fn group_logits(&self, images: &[u8]) -> Vec<PerClass, { kernel::GROUP }> {
        let mut each = images.chunks_exact(self.inputs());
        if each.len() == kernel::GROUP {
            let group = core::array::from_fn(|_| each.next().unwrap_or_default());
            if let Some(logits) = self.full_group_logits(group) {
                return logits;
            }
        }
        images
            .chunks_exact(self.inputs())
            .map(|image| self.logits(image).unwrap_or_default())
            .collect()
    }

    /// The logits of [`kernel::GROUP`] images of the right length with the group kernels, or
    /// `None` where the target has none for this model.
    fn full_group_logits(
        &self,
        images: [&[u8]; kernel::GROUP],
    ) -> Option<Vec<PerClass, { kernel::GROUP }>> {
        match Weights::from(self.blob.arrays()) {
            #[cfg(any(feature = "int8", feature = "int4"))]
            Weights::Quantized((packing, weights, scales, bias)) => {
                let dots = &mut [[0; MAX_CLASSES]; kernel::GROUP];
                if !kernel::group_dots(packing, weights, images, dots) {
                    return None;
                }
                let logits = |dots: &[i32; MAX_CLASSES]| {
                    dots.iter().zip(f32s(scales).zip(f32s(bias))).map(quantized_logit).collect()
                };
                Some(dots.iter().map(logits).collect())
            }
            #[cfg(feature = "f32")]
            Weights::F32 { weights, bias } => f32_group_logits(weights, bias, images),
        }
    }

    /// [`logits`](Self::logits) computed with the portable reference kernel (safe Rust, the
    /// same on every target). Integer sums are exact, so `logits` equals it bit for bit; a
    /// firmware can check its fast kernel against it.
    pub fn logits_portable(&self, image: &[u8]) -> Result<PerClass, Error> {
        let scratch = &mut [0.0; MAX_CLASSES];
        self.logits_with(image, kernel::portable_dots, scratch).map(per_class)
    }

    /// The logits for an already normalized input (pixels in `[0, 1]`, as the trainer feeds
    /// candle). Only for f32 models: a quantized model gives [`Error::SchemeMismatch`]. A NaN or
    /// infinite input value gives [`Error::InvalidInput`]; finite values far outside `[0, 1]`
    /// may overflow logits to infinity, which [`softmax`](crate::softmax) takes to its limits.
    pub fn logits_normalized(&self, input: &[f32]) -> Result<PerClass, Error> {
        self.check_input_len(input.len())?;
        match Weights::from(self.blob.arrays()) {
            #[cfg(feature = "f32")]
            Weights::F32 { .. } if !input.iter().all(|x| x.is_finite()) => Err(Error::InvalidInput),
            #[cfg(feature = "f32")]
            Weights::F32 { weights, bias } => {
                let logits = &mut [0.0; MAX_CLASSES];
                #[cfg(target_pointer_width = "64")]
                let logits = self.f32_host_logits(weights, bias, input, logits);
                #[cfg(not(target_pointer_width = "64"))]
                let logits = self.f32_logits(weights, bias, input, |x| x, logits);
                Ok(per_class(logits))
            }
            #[cfg(any(feature = "int8", feature = "int4"))]
            Weights::Quantized(_) => Err(Error::SchemeMismatch),
        }
    }

    /// The most probable class for an image, without computing probabilities.
    pub fn classify(&self, image: &[u8]) -> Result<usize, Error> {
        #[cfg(all(target_arch = "arm", any(feature = "arm-dsp", feature = "arm-mve")))]
        #[cfg(any(feature = "int8", feature = "int4"))]
        if let Weights::Quantized(arrays) = Weights::from(self.blob.arrays()) {
            self.check_input_len(image.len())?;
            let sums = &mut kernel::Sums::uninit();
            let dots = kernel::Prepared::dots;
            return Ok(first_largest(self.quantized_logits(arrays, image, dots, sums)));
        }
        softmax::argmax(self.logits_with(image, kernel::Prepared::dots, &mut [0.0; MAX_CLASSES])?)
    }

    /// Class, logits and probabilities for an image.
    pub fn predict(&self, image: &[u8]) -> Result<Prediction, Error> {
        let scratch = &mut [0.0; MAX_CLASSES];
        let logits = self.logits_with(image, kernel::Prepared::dots, scratch)?;
        // One pass finds both the class and the maximum that softmax subtracts.
        let (class, max) = softmax::largest(logits)?;
        Ok(Prediction {
            class,
            probabilities: softmax::probabilities(logits, max),
            logits: per_class(logits),
        })
    }

    /// The logits, written into `scratch` (whose first `classes()` entries they fill) and
    /// returned as that prefix: borrowing the caller's array rather than returning one
    /// avoids copying it through every caller.
    fn logits_with<'s>(
        &self,
        image: &[u8],
        dots: Dots,
        scratch: &'s mut Scratch,
    ) -> Result<&'s [f32], Error> {
        self.check_input_len(image.len())?;
        Ok(match Weights::from(self.blob.arrays()) {
            #[cfg(any(feature = "int8", feature = "int4"))]
            Weights::Quantized(arrays) => {
                let sums = &mut kernel::Sums::uninit();
                let logits = self.used(scratch);
                for (logit, value) in
                    logits.iter_mut().zip(self.quantized_logits(arrays, image, dots, sums))
                {
                    *logit = value;
                }
                logits
            }
            #[cfg(feature = "f32")]
            Weights::F32 { weights, bias } => {
                self.f32_logits_of_pixels(weights, bias, image, scratch)
            }
        })
    }

    /// The quantized logits, class by class: the exact dot products (computed by `dots` into
    /// `sums`), each scaled and biased as the [`blob`](crate::blob) docs define.
    /// Always inlined: as a call returning the iterator, it costs every inference a stack frame
    /// and copies.
    #[inline(always)]
    fn quantized_logits<'s>(
        &self,
        (packing, weights, scales, bias): Quantized<'s>,
        image: &[u8],
        dots: Dots,
        sums: &'s mut kernel::Sums,
    ) -> impl Iterator<Item = f32> + 's {
        let sums = dots(&self.prepared, packing, weights, image, self.classes(), sums);
        sums.iter().zip(f32s(scales).zip(f32s(bias))).map(quantized_logit)
    }

    #[cfg(not(target_pointer_width = "64"))]
    fn f32_logits<'s, T: Copy>(
        &self,
        weights: &[u8],
        bias: &[u8],
        input: &[T],
        x: impl Fn(T) -> f32 + Copy,
        scratch: &'s mut Scratch,
    ) -> &'s mut [f32] {
        let logits = self.used(scratch);
        let row_len = self.inputs() * 4;
        // Rows by index, not `chunks_exact`: no division, and no check for a zero length.
        for (c, (logit, bias)) in logits.iter_mut().zip(f32s(bias)).enumerate() {
            let row = weights.get(c * row_len..(c + 1) * row_len).unwrap_or_default();
            *logit = kernel::portable::dot_f32(row, input, x) + bias;
        }
        logits
    }

    /// [`f32_logits`](Self::f32_logits) of an f32 input with the host kernels.
    #[cfg(target_pointer_width = "64")]
    fn f32_host_logits<'s>(
        &self,
        weights: &[u8],
        bias: &[u8],
        input: &[f32],
        scratch: &'s mut Scratch,
    ) -> &'s mut [f32] {
        let dots = &mut [[0.0; MAX_CLASSES]];
        kernel::f32_dots(weights, [input], dots);
        add_bias(self.used(scratch), &dots[0], bias)
    }

    /// The f32 logits of raw pixels: on 64-bit hosts with the host kernels, which normalize
    /// each pixel once for all rows, elsewhere one row at a time, normalizing per use; the
    /// values, and so the logits, are the same either way.
    fn f32_logits_of_pixels<'s>(
        &self,
        weights: &[u8],
        bias: &[u8],
        image: &[u8],
        scratch: &'s mut Scratch,
    ) -> &'s mut [f32] {
        #[cfg(target_pointer_width = "64")]
        {
            let dots = &mut [[0.0; MAX_CLASSES]];
            kernel::f32_pixel_dots(weights, [image], dots);
            add_bias(self.used(scratch), &dots[0], bias)
        }
        #[cfg(not(target_pointer_width = "64"))]
        self.f32_logits(weights, bias, image, normalize_pixel, scratch)
    }

    /// The first `classes()` entries of a scratch array.
    fn used<'s>(&self, scratch: &'s mut Scratch) -> &'s mut [f32] {
        scratch.get_mut(..self.classes()).unwrap_or_default()
    }

    fn check_input_len(&self, found: usize) -> Result<(), Error> {
        if found == self.inputs() {
            Ok(())
        } else {
            Err(Error::InputLength { expected: self.inputs(), found })
        }
    }
}

/// [`Model::full_group_logits`] of an f32 model on a 64-bit host.
#[cfg(all(feature = "f32", target_pointer_width = "64"))]
fn f32_group_logits(
    weights: &[u8],
    bias: &[u8],
    images: [&[u8]; kernel::GROUP],
) -> Option<Vec<PerClass, { kernel::GROUP }>> {
    let dots = &mut [[0.0; MAX_CLASSES]; kernel::GROUP];
    kernel::f32_pixel_dots(weights, images, dots);
    let logits =
        |dots: &[f32; MAX_CLASSES]| dots.iter().zip(f32s(bias)).map(|(d, b)| d + b).collect();
    Some(dots.iter().map(logits).collect())
}

/// No group kernel for f32 models on this target.
#[cfg(all(feature = "f32", not(target_pointer_width = "64")))]
fn f32_group_logits(
    _: &[u8],
    _: &[u8],
    _: [&[u8]; kernel::GROUP],
) -> Option<Vec<PerClass, { kernel::GROUP }>> {
    None
}

#[cfg(test)]
mod tests {
    use super::first_largest;
    use crate::softmax::argmax;

    /// The SMLAD and Helium builds' quantized `classify` picks its class with `first_largest`: for logits
    /// without NaN it must pick what `argmax` does. Every sequence of up to 4 logits drawn from
    /// values that tie, order and overflow in every way.
    #[test]
    fn first_largest_is_argmax_for_logits_without_nan() {
        const VALUES: [f32; 8] =
            [f32::NEG_INFINITY, -1e30, -1.0, -0.0, 0.0, 1.0, 1e30, f32::INFINITY];
        for len in 1..=4u32 {
            for code in 0..VALUES.len().pow(len) {
                let logits: heapless::Vec<f32, 4> =
                    (0..len).map(|i| VALUES[code / VALUES.len().pow(i) % VALUES.len()]).collect();
                let expected = argmax(&logits).unwrap();
                assert_eq!(first_largest(logits.iter().copied()), expected, "{logits:?}");
            }
        }
    }
}
