//! 64-bit hosts: the pixels are widened to i16 once and reused for every class, and each row
//! accumulates in 16 independent i32 lanes, which LLVM turns into `pmaddwd` on x86-64's
//! baseline SSE2 (and wider on AVX2): faster than the portable kernel, with the same sums.
//! int4 rows are unpacked nibble by nibble into the same lanes.

use super::F32_LANES;
use super::MAX_BUFFERED_INPUTS as MAX_WIDENED;
use super::portable::{high, low};
use crate::values::f32s;
const LANES: usize = 16;

/// The pixels as i16, for inputs this module covers (at most [`MAX_WIDENED`]).
fn widened(pixels: &[u8]) -> Option<[i16; MAX_WIDENED]> {
    if pixels.is_empty() || pixels.len() > MAX_WIDENED {
        return None;
    }
    let mut wide = [0i16; MAX_WIDENED];
    for (w, &p) in wide.iter_mut().zip(pixels) {
        *w = i16::from(p);
    }
    Some(wide)
}

/// See [`super::Prepared::dots`]; `false` (nothing done) for inputs this kernel does not cover.
pub(crate) fn int8_dots(weights: &[u8], pixels: &[u8], dots: &mut [i32]) -> bool {
    let Some(wide) = widened(pixels) else { return false };
    let n = pixels.len();
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

/// [`int8_dots`] for int4 rows (`ceil(n/2)` bytes): 8 bytes, 16 weights, per step.
pub(crate) fn int4_dots(weights: &[u8], pixels: &[u8], dots: &mut [i32]) -> bool {
    let Some(wide) = widened(pixels) else { return false };
    let n = pixels.len();
    let (wide, stride) = (&wide[..n.next_multiple_of(2)], n.div_ceil(2));
    for (dot, row) in dots.iter_mut().zip(weights.chunks_exact(stride)) {
        let mut lanes = [0i32; LANES];
        let (rows, pixels) = (row.as_chunks::<{ LANES / 2 }>(), wide.as_chunks::<LANES>());
        for (bytes, p) in rows.0.iter().zip(pixels.0) {
            for (j, &byte) in bytes.iter().enumerate() {
                lanes[2 * j] += low(byte) * i32::from(p[2 * j]);
                lanes[2 * j + 1] += high(byte) * i32::from(p[2 * j + 1]);
            }
        }
        let tail = rows.1.iter().zip(pixels.1.as_chunks::<2>().0);
        let tail: i32 =
            tail.map(|(&b, &[p0, p1])| low(b) * i32::from(p0) + high(b) * i32::from(p1)).sum();
        *dot = lanes.iter().sum::<i32>() + tail;
    }
    true
}

/// See [`super::dot_f32`]: whole groups of lanes, which the compiler vectorizes, then the rest.
#[inline]
pub(crate) fn dot_f32<T: Copy>(row: &[u8], inputs: &[T], x: impl Fn(T) -> f32) -> f32 {
    let mut lanes = [0.0f32; F32_LANES];
    let (rows, xs) = (row.chunks_exact(4 * F32_LANES), inputs.chunks_exact(F32_LANES));
    let rest = f32s(rows.remainder()).zip(xs.remainder()).fold(0.0, |s, (w, &v)| s + w * x(v));
    for (row, xs) in rows.zip(xs) {
        for ((lane, w), &v) in lanes.iter_mut().zip(f32s(row)).zip(xs) {
            *lane += w * x(v);
        }
    }
    lanes.iter().fold(0.0, |s, &l| s + l) + rest
}

#[cfg(test)]
mod tests {
    /// The one-loop form other targets use adds the same products in the same order.
    #[test]
    fn dot_f32_equals_the_portable_one() {
        let mut seed = 1u32;
        // Small values of both signs, with every mantissa bit in play: rounding differs as
        // soon as the order of additions does.
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            f32::from_bits(0x3f00_0000 | (seed >> 9)) - 1.25
        };
        let (mut weights, mut inputs) = ([0u8; 4 * 784], [0.0f32; 784]);
        for n in [1, 7, 8, 9, 16, 31, 784] {
            for (w, x) in weights.as_chunks_mut::<4>().0.iter_mut().zip(&mut inputs).take(n) {
                (*w, *x) = (next().to_le_bytes(), next());
            }
            let (weights, inputs) = (&weights[..4 * n], &inputs[..n]);
            let wide = super::dot_f32(weights, inputs, |v| v);
            let portable = super::super::portable::dot_f32(weights, inputs, |v| v);
            assert_eq!(wide.to_bits(), portable.to_bits(), "{n} inputs");
        }
    }
}
