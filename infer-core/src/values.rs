//! The small shared pieces: shape limits, per-class arrays and little-endian f32s. A leaf: it
//! imports nothing from the crate, so every other module may use it.

use heapless::Vec;

/// Most classes a model may have: bounds the [`PerClass`] arrays kept on the stack.
pub const MAX_CLASSES: usize = 16;

/// Most inputs a model may have: with int8 weights (|w| <= 128) and u8 inputs (<= 255), the
/// i32 dot-product accumulator cannot overflow below this bound.
pub const MAX_INPUTS: usize = 65_536;

/// One f32 per class (logits, probabilities), kept on the stack.
pub type PerClass = Vec<f32, MAX_CLASSES>;

/// Room for one value per class; the first `classes` are meaningful.
pub(crate) type Scratch = [f32; MAX_CLASSES];

/// The first `values.len()` entries of a scratch array as a [`PerClass`]; callers never pass
/// more than [`MAX_CLASSES`] (shapes are validated), so nothing is ever dropped.
pub(crate) fn per_class(values: &[f32]) -> PerClass {
    PerClass::from_slice(values).unwrap_or_default()
}

/// Reads little-endian f32s; a trailing partial value is ignored (lengths are checked first).
pub(crate) fn f32s(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes.as_chunks().0.iter().map(|&b| f32::from_le_bytes(b))
}
