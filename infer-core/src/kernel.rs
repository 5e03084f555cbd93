//! Dot products: the inner loop of inference.

/// Exact dot product of one row of int8 weights (stored as bytes) with raw u8 pixels.
///
/// |w| <= 128 and p <= 255, so `n <= MAX_INPUTS` terms cannot overflow the i32.
#[inline]
pub(crate) fn dot_i8_u8(row: &[u8], pixels: &[u8]) -> i32 {
    row.iter().zip(pixels).map(|(&w, &p)| i32::from(w as i8) * i32::from(p)).sum()
}

/// Dot product of one row of little-endian f32 weights with `inputs`, summed in index order
/// so the result is the same on every target.
#[inline]
pub(crate) fn dot_f32(row: &[u8], inputs: impl Iterator<Item = f32>) -> f32 {
    crate::blob::f32s(row).zip(inputs).fold(0.0, |sum, (w, x)| sum + w * x)
}
