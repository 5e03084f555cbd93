//! Dot products: the inner loop of inference.
//!
//! [`portable`] is the reference and runs everywhere. On 64-bit hosts [`wide`] computes the same
//! integer sums in a shape the compiler vectorizes, and on Cortex-M cores with the DSP extension
//! [`arm_dsp`] computes them with SMLAD. Integer sums are exact, so every kernel must equal the
//! reference bit for bit: the host tests check `wide`, the firmware under QEMU checks `arm_dsp`.
//! The f32 dot product likewise has a vectorizing form in `wide` and a compact one in
//! `portable` that adds the same products in the same order; the host tests compare them.

#[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
mod arm_dsp;
pub(crate) mod portable;
#[cfg(target_pointer_width = "64")]
mod wide;

/// `dots[c] = sum_i weights[c][i] * pixels[i]` for every class `c < dots.len()`, with the
/// fastest kernel this target has for the shape. `weights` holds `dots.len()` rows of
/// `pixels.len()` i8 (as bytes).
#[inline]
pub(crate) fn int8_dots(weights: &[u8], pixels: &[u8], dots: &mut [i32]) {
    #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
    if arm_dsp::int8_dots(weights, pixels, dots) {
        return;
    }
    #[cfg(target_pointer_width = "64")]
    if wide::int8_dots(weights, pixels, dots) {
        return;
    }
    portable::int8_dots(weights, pixels, dots);
}

/// Inputs that 64-bit hosts convert once into a stack buffer (i16 pixels for int8, normalized
/// f32 for f32 models) instead of once per class.
#[cfg(target_pointer_width = "64")]
pub(crate) const MAX_BUFFERED_INPUTS: usize = 1024;

/// Lanes of independent f32 accumulators: enough for the compiler to vectorize, summed in a
/// fixed order afterwards, so the result is the same on every target.
const F32_LANES: usize = 8;

/// Dot product of one row of little-endian f32 weights with `inputs` mapped through `x`: the
/// full groups of [`F32_LANES`] inputs summed lane by lane, then the lanes in order, plus the
/// rest summed on its own. 64-bit hosts compute it in a shape that vectorizes, other targets in
/// one loop, which is much less code; both add the same products in the same order.
#[inline]
pub(crate) fn dot_f32<T: Copy>(row: &[u8], inputs: &[T], x: impl Fn(T) -> f32) -> f32 {
    #[cfg(target_pointer_width = "64")]
    let dot = wide::dot_f32;
    #[cfg(not(target_pointer_width = "64"))]
    let dot = portable::dot_f32;
    dot(row, inputs, x)
}
