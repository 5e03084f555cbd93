//! 64-bit hosts: the pixels are widened to i16 once and reused for every class, and each row
//! accumulates in 16 independent i32 lanes, which LLVM turns into `pmaddwd` on x86-64's
//! baseline SSE2 (and wider on AVX2): faster than the portable kernel, with the same sums.

use super::MAX_BUFFERED_INPUTS as MAX_WIDENED;
const LANES: usize = 16;

/// See [`super::int8_dots`]; `false` (nothing done) for inputs this kernel does not cover.
pub(crate) fn int8_dots(weights: &[u8], pixels: &[u8], dots: &mut [i32]) -> bool {
    let n = pixels.len();
    if n == 0 || n > MAX_WIDENED {
        return false;
    }
    let mut wide = [0i16; MAX_WIDENED];
    for (w, &p) in wide.iter_mut().zip(pixels) {
        *w = i16::from(p);
    }
    let wide = &wide[..n];
    for (dot, row) in dots.iter_mut().zip(weights.chunks_exact(n)) {
        let mut lanes = [0i32; LANES];
        let (rows, pixels) = (row.chunks_exact(LANES), wide.chunks_exact(LANES));
        let tail: i32 = rows
            .remainder()
            .iter()
            .zip(pixels.remainder())
            .map(|(&w, &p)| i32::from(w as i8) * i32::from(p))
            .sum();
        for (w, p) in rows.zip(pixels) {
            for ((lane, &w), &p) in lanes.iter_mut().zip(w).zip(p) {
                *lane += i32::from(i16::from(w as i8)) * i32::from(p);
            }
        }
        *dot = lanes.iter().sum::<i32>() + tail;
    }
    true
}
