//! 64-bit hosts: the pixels are widened to i16 once and reused for every class, and each row
//! accumulates in 16 independent i32 lanes, which LLVM turns into `pmaddwd` on x86-64's
//! baseline SSE2 (and wider on AVX2): faster than the portable kernel, with the same sums.
//! int4 rows are summed the same way, low and high nibbles against the even and odd pixels.

use super::F32_LANES;
use super::MAX_BUFFERED_INPUTS as MAX_WIDENED;
use super::portable::{high, low};
use crate::values::f32s;
const LANES: usize = 16;

/// The pixels as i16, in `buffer`, for inputs this module covers (at most
/// [`MAX_WIDENED`]). Into the caller's buffer: returning the array would copy its 2 KiB.
fn widen<'b>(pixels: &[u8], buffer: &'b mut [i16; MAX_WIDENED]) -> Option<&'b [i16]> {
    if pixels.is_empty() || pixels.len() > MAX_WIDENED {
        return None;
    }
    for (w, &p) in buffer.iter_mut().zip(pixels) {
        *w = i16::from(p);
    }
    buffer.get(..pixels.len())
}

/// See [`super::Prepared::dots`]; `false` (nothing done) for inputs this kernel does not cover.
pub(crate) fn int8_dots(weights: &[u8], pixels: &[u8], dots: &mut [i32]) -> bool {
    let buffer = &mut [0; MAX_WIDENED];
    let Some(wide) = widen(pixels, buffer) else { return false };
    for (dot, row) in dots.iter_mut().zip(weights.chunks_exact(pixels.len())) {
        *dot = lanes_dot(row, wide, |w| i32::from(w as i8));
    }
    true
}

/// [`int8_dots`] for int4 rows (`ceil(n/2)` bytes): the pixels are split once into the even
/// and the odd ones, then each row is two such sums, low nibbles with the even pixels and high
/// nibbles with the odd ones.
pub(crate) fn int4_dots(weights: &[u8], pixels: &[u8], dots: &mut [i32]) -> bool {
    const HALF: usize = MAX_WIDENED / 2;
    if pixels.is_empty() || pixels.len() > MAX_WIDENED {
        return false;
    }
    let (even, odd) = (&mut [0i16; HALF], &mut [0i16; HALF]);
    let (pairs, last) = pixels.as_chunks::<2>();
    for ((e, o), &[p0, p1]) in even.iter_mut().zip(odd.iter_mut()).zip(pairs) {
        (*e, *o) = (p0.into(), p1.into());
    }
    if let (Some(e), Some(&p)) = (even.get_mut(pairs.len()), last.first()) {
        *e = p.into();
    }
    let stride = pixels.len().div_ceil(2);
    let (even, odd) = (&even[..stride], &odd[..stride]);
    for (dot, row) in dots.iter_mut().zip(weights.chunks_exact(stride)) {
        *dot = lanes_dot(row, even, low) + lanes_dot(row, odd, high);
    }
    true
}

/// `sum_i w(weights[i]) * pixels[i]`: whole groups in [`LANES`] independent lanes, which the
/// compiler vectorizes, then the rest.
#[inline(always)]
fn lanes_dot<T: Copy>(weights: &[T], pixels: &[i16], w: impl Fn(T) -> i32) -> i32 {
    let mut lanes = [0i32; LANES];
    let (rows, pixels) = (weights.chunks_exact(LANES), pixels.chunks_exact(LANES));
    let tail = rows.remainder().iter().zip(pixels.remainder());
    let tail: i32 = tail.map(|(&a, &p)| w(a) * i32::from(p)).sum();
    for (ws, ps) in rows.zip(pixels) {
        for ((lane, &a), &p) in lanes.iter_mut().zip(ws).zip(ps) {
            *lane += w(a) * i32::from(p);
        }
    }
    lanes.iter().sum::<i32>() + tail
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
