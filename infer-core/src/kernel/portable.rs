//! The reference kernel: one plain dot product per class, in safe Rust, for every target.

/// See [`super::int8_dots`]. Never inlined: the fast kernels fall back to it and
/// `logits_portable` calls it, and one copy is enough.
#[inline(never)]
pub(crate) fn int8_dots(weights: &[u8], pixels: &[u8], dots: &mut [i32]) {
    for (c, dot) in dots.iter_mut().enumerate() {
        let row = weights.get(c * pixels.len()..).unwrap_or_default();
        *dot = row.iter().zip(pixels).map(|(&w, &p)| i32::from(w as i8) * i32::from(p)).sum();
    }
}
