//! Turning logits into a class and probabilities, defined for every f32 input.

use crate::Error;
use crate::exp::exp_nonpositive;
use crate::values::{MAX_CLASSES, PerClass, per_class};

/// Index of the largest logit; ties go to the lowest index.
///
/// Errors with [`Error::InvalidLogits`] when `logits` is empty or holds a NaN.
///
/// ```
/// assert_eq!(infer_core::softmax::argmax(&[1.0, 3.0, 3.0]), Ok(1));
/// ```
pub fn argmax(logits: &[f32]) -> Result<usize, Error> {
    largest(logits).map(|(index, _)| index)
}

/// The index and value of the first largest logit.
pub(crate) fn largest(logits: &[f32]) -> Result<(usize, f32), Error> {
    let (mut best, mut max) = (0, f32::NEG_INFINITY);
    for (i, &logit) in logits.iter().enumerate() {
        if logit.is_nan() {
            return Err(Error::InvalidLogits);
        }
        if logit > max || i == 0 {
            (best, max) = (i, logit);
        }
    }
    if logits.is_empty() { Err(Error::InvalidLogits) } else { Ok((best, max)) }
}

/// Numerically stable softmax: the largest logit is subtracted before `exp`, so logits of
/// ±1e30 give finite probabilities. Infinite logits take their limits: the `+inf` entries share
/// the probability equally, and all `-inf` gives the uniform distribution.
///
/// Errors with [`Error::InvalidLogits`] when `logits` is empty or holds a NaN, and with
/// [`Error::InputLength`] when it has more than [`MAX_CLASSES`] entries.
///
/// ```
/// let p = infer_core::softmax::softmax(&[1e30, 0.0, -1e30])?;
/// assert_eq!(p.as_slice(), &[1.0, 0.0, 0.0]);
/// # Ok::<(), infer_core::Error>(())
/// ```
pub fn softmax(logits: &[f32]) -> Result<PerClass, Error> {
    if logits.len() > MAX_CLASSES {
        return Err(Error::InputLength { expected: MAX_CLASSES, found: logits.len() });
    }
    let (_, max) = largest(logits)?;
    Ok(probabilities(logits, max))
}

/// [`softmax`] of logits whose largest value, `max`, is known (so they are not empty and hold
/// no NaN) and that fit a [`PerClass`].
pub(crate) fn probabilities(logits: &[f32], max: f32) -> PerClass {
    let weight = |l: f32| match max {
        f32::INFINITY => f32::from(u8::from(l == f32::INFINITY)),
        f32::NEG_INFINITY => 1.0,
        _ => exp_nonpositive(l - max),
    };
    let mut probabilities = per_class(logits);
    // `sum >= 1`: the largest entry contributes exp(0) = 1 (or 1 in the infinite cases).
    let mut sum = 0.0;
    for p in probabilities.iter_mut() {
        *p = weight(*p);
        sum += *p;
    }
    probabilities.iter_mut().for_each(|p| *p /= sum);
    probabilities
}
