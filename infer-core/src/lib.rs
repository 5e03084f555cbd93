//! Inference for a linear (multinomial logistic regression) classifier on a microcontroller.
//!
//! `infer-core` decodes a weights blob written by the `trainer` crate and classifies an image
//! with it: one matrix-vector product, then softmax. It is `#![no_std]`, never allocates and
//! never copies the weights (they stay where the blob is, e.g. in flash), and no input bytes can
//! make it panic: every malformed blob gets a typed [`Error`].
//!
//! ```
//! # fn main() -> Result<(), infer_core::Error> {
//! # let blob = infer_core::blob::encode(&infer_core::blob::Params::Int8 {
//! #     inputs: 784, classes: 10,
//! #     weights: &[1; 7840], scales: &[0.01; 10], bias: &[0.0; 10],
//! # })?;
//! use infer_core::Model;
//!
//! let model = Model::from_blob(&blob)?; // validates magic, version, shape, CRC-32, values
//! let image = [0u8; 784]; // 28x28 pixels, row-major, 0 = background, 255 = ink
//! let prediction = model.predict(&image)?;
//! assert!(prediction.class < 10);
//! assert!((prediction.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-6);
//! # Ok(())
//! # }
//! ```
//!
//! The blob's byte layout is specified in [`blob`]. Two schemes exist: `f32` weights, and `int8`
//! weights with one scale per class, where the dot product with the raw `u8` pixels is exact
//! integer arithmetic, so the same blob and image give the same logit bits on every target.
#![no_std]
// No unsafe code, except the inline assembly of `kernel::arm_dsp` (feature `arm-dsp`, Arm only).
#![cfg_attr(not(all(target_arch = "arm", feature = "arm-dsp")), forbid(unsafe_code))]
#![cfg_attr(all(target_arch = "arm", feature = "arm-dsp"), deny(unsafe_code))]

#[cfg(feature = "encode")]
extern crate alloc;

pub mod blob;
mod error;
mod kernel;
mod model;
#[cfg(feature = "signed")]
pub mod signed;
pub mod softmax;

pub use error::{Error, Field};
pub use model::{Model, PerClass, Prediction, Scheme};

/// Most classes a model may have: bounds the [`Logits`] kept on the stack.
pub const MAX_CLASSES: usize = 16;

/// Most inputs a model may have: with int8 weights (|w| <= 128) and u8 inputs (<= 255), the
/// i32 dot-product accumulator cannot overflow below this bound.
pub const MAX_INPUTS: usize = 65_536;

/// Maps a raw pixel to the `[0, 1]` input the float model was trained on, exactly as
/// PyTorch's `ToTensor` does (`p as f32 / 255.0`). The trainer uses this same function.
#[inline]
pub fn normalize_pixel(pixel: u8) -> f32 {
    f32::from(pixel) / 255.0
}
