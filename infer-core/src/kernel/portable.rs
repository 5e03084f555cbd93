//! The reference kernel: one plain dot product per class, in safe Rust, for every target.

use super::F32_LANES;
use crate::values::f32s;

/// See [`super::Prepared::dots`]. Never inlined: the fast kernels fall back to it and
/// `logits_portable` calls it, and one copy is enough.
#[inline(never)]
pub(crate) fn int8_dots(weights: &[u8], pixels: &[u8], dots: &mut [i32]) {
    for (c, dot) in dots.iter_mut().enumerate() {
        let row = weights.get(c * pixels.len()..).unwrap_or_default();
        *dot = row.iter().zip(pixels).map(|(&w, &p)| i32::from(w as i8) * i32::from(p)).sum();
    }
}

/// See [`super::Prepared::dots`], for int4 rows of `ceil(n/2)` bytes. Never inlined, as
/// `int8_dots`.
#[inline(never)]
pub(crate) fn int4_dots(weights: &[u8], pixels: &[u8], dots: &mut [i32]) {
    let (pairs, last) = pixels.as_chunks::<2>();
    let stride = pixels.len().div_ceil(2);
    for (c, dot) in dots.iter_mut().enumerate() {
        let row = weights.get(c * stride..).unwrap_or_default();
        let mut sum = 0;
        for (&byte, &[p0, p1]) in row.iter().zip(pairs) {
            sum += low(byte) * i32::from(p0) + high(byte) * i32::from(p1);
        }
        if let (Some(&byte), Some(&p)) = (row.get(pairs.len()), last.first()) {
            sum += low(byte) * i32::from(p);
        }
        *dot = sum;
    }
}

/// The weight in the low nibble of an int4 byte.
#[inline]
pub(crate) fn low(byte: u8) -> i32 {
    i32::from((byte << 4) as i8 >> 4)
}

/// The weight in the high nibble of an int4 byte.
#[inline]
pub(crate) fn high(byte: u8) -> i32 {
    i32::from(byte as i8 >> 4)
}

/// Dot product of one row of little-endian f32 weights with `inputs` mapped through `x`: the
/// full groups of [`F32_LANES`] inputs summed lane by lane, then the lanes in order, plus the
/// rest summed on its own; in one pass, each product going to its lane or to the rest. The
/// host kernels (`wide`) add the same products in the same order.
#[cfg_attr(target_pointer_width = "64", allow(dead_code))] // the reference the host tests use
pub(crate) fn dot_f32<T: Copy>(row: &[u8], inputs: &[T], x: impl Fn(T) -> f32) -> f32 {
    let mut lanes = [0.0f32; F32_LANES];
    let mut rest = 0.0;
    let grouped = inputs.len() / F32_LANES * F32_LANES;
    for (i, (w, &v)) in f32s(row).zip(inputs).enumerate() {
        let product = w * x(v);
        match lanes.get_mut(i % F32_LANES) {
            Some(lane) if i < grouped => *lane += product,
            _ => rest += product,
        }
    }
    lanes.iter().fold(0.0, |s, &l| s + l) + rest
}
