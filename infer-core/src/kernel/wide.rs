//! 64-bit hosts: kernels in the shape compilers vectorize, for one image or a
//! [`GROUP`](super::GROUP) of images per pass over the weights.
//!
//! Quantized: the pixels are widened to i16 once per image, and each row's dot product is a
//! plain reduction of i16 products, which LLVM vectorizes into `pmaddwd` (pairs of products
//! added into i32 lanes; SSE2, AVX2, AVX-512) and NEON's widening multiply-adds. An int4 byte
//! holds a pair of weights for a pair of pixels, low nibble first, as `pmaddwd` pairs them.
//! Integer sums are exact in any order.
//! f32: [`F32_LANES`] lanes per row in the order [`super::portable::dot_f32`] documents,
//! several rows (or images) at a time, so that no lane waits on its own previous addition.
//! [`Job::run`] is written once; `super::dispatch` compiles it for each instruction set.

use core::array;

use super::F32_LANES;
use super::MAX_BUFFERED_INPUTS as MAX_WIDENED;
use super::portable::{high, low};
use crate::values::f32s;
use crate::{MAX_CLASSES, normalize_pixel};

/// One kernel call for one or more images of the same model, whichever instruction set runs it.
pub(crate) enum Job<'a> {
    /// int8 rows against each image's pixels, into one sum per class and image.
    Int8 { weights: &'a [u8], images: &'a [&'a [u8]], dots: &'a mut [[i32; MAX_CLASSES]] },
    /// int4 rows (`ceil(n/2)` bytes) against each image's pixels.
    Int4 { weights: &'a [u8], images: &'a [&'a [u8]], dots: &'a mut [[i32; MAX_CLASSES]] },
    /// f32 rows against f32 inputs, without the bias.
    F32 { weights: &'a [u8], inputs: &'a [&'a [f32]], dots: &'a mut [[f32; MAX_CLASSES]] },
    /// f32 rows against each image's pixels, normalized once, without the bias.
    F32Pixels { weights: &'a [u8], images: &'a [&'a [u8]], dots: &'a mut [[f32; MAX_CLASSES]] },
}

impl Job<'_> {
    /// Computes the job with the kernels of this module. Always inlined, so that each caller
    /// compiled for an instruction set vectorizes it for that set: the quantized sums as plain
    /// reductions over pixels widened once, which LLVM turns into `pmaddwd` (exact: i16
    /// products, i32 sums), the f32 ones lane by lane.
    #[inline(always)]
    pub(crate) fn run(self) {
        self.run_normalizing(normalize_pixel)
    }

    /// [`run`](Self::run) with pixels normalized by `normalize`, which must equal
    /// [`normalize_pixel`] bit for bit.
    #[inline(always)]
    pub(crate) fn run_normalizing(self, normalize: impl Fn(u8) -> f32) {
        match self {
            Self::Int8 { weights, images, dots } => {
                for (dots, image) in dots.iter_mut().zip(images) {
                    let buffer = &mut [0; MAX_WIDENED + 1];
                    let Some(pixels) = widen(image, buffer) else { continue };
                    let pixels = pixels.get(..image.len()).unwrap_or_default();
                    for (dot, row) in dots.iter_mut().zip(weights.chunks_exact(image.len())) {
                        *dot = row.iter().zip(pixels).map(|(&w, &p)| wide8(w) * i32::from(p)).sum();
                    }
                }
            }
            Self::Int4 { weights, images, dots } => {
                for (dots, image) in dots.iter_mut().zip(images) {
                    let buffer = &mut [0; MAX_WIDENED + 1];
                    let Some(pixels) = widen(image, buffer) else { continue };
                    let pairs = pixels.as_chunks::<2>().0;
                    for (dot, row) in dots.iter_mut().zip(weights.chunks_exact(pairs.len())) {
                        *dot = row.iter().zip(pairs).map(|(&b, &pair)| int4_pair(b, pair)).sum();
                    }
                }
            }
            Self::F32 { weights, inputs, dots } => {
                for (input, dots) in inputs.iter().zip(dots) {
                    f32_dots(weights, input, |x| x, dots);
                }
            }
            Self::F32Pixels { weights, images, dots } => {
                for (image, dots) in images.iter().zip(dots) {
                    f32_dots(weights, image, &normalize, dots);
                }
            }
        }
    }
}

/// Whether [`Job::run`] computes the quantized sums of images of `inputs` pixels: it widens
/// them into a stack buffer of at most [`MAX_WIDENED`].
pub(crate) fn widens(inputs: usize) -> bool {
    (1..=MAX_WIDENED).contains(&inputs)
}

/// Widens `pixels` to i16 into `buffer`, with a 0 after an odd count (int4 pairs); `None` for
/// inputs this module does not cover (see [`widens`]).
fn widen<'b>(pixels: &[u8], buffer: &'b mut [i16; MAX_WIDENED + 1]) -> Option<&'b [i16]> {
    if !widens(pixels.len()) {
        return None;
    }
    for (w, &p) in buffer.iter_mut().zip(pixels) {
        *w = i16::from(p);
    }
    if let Some(pad) = buffer.get_mut(pixels.len()) {
        *pad = 0;
    }
    buffer.get(..pixels.len().next_multiple_of(2))
}

/// An int8 weight byte as i32.
#[inline(always)]
fn wide8(w: u8) -> i32 {
    i32::from(w as i8)
}

/// An int4 byte's two weights times a pixel pair, summed: the shape of one `pmaddwd` lane.
#[inline(always)]
fn int4_pair(byte: u8, [p0, p1]: [i16; 2]) -> i32 {
    low(byte) * i32::from(p0) + high(byte) * i32::from(p1)
}

/// The bytes of [`F32_LANES`] little-endian f32 weights.
type Step = [u8; 4 * F32_LANES];
/// [`F32_LANES`] lanes of f32.
type Lanes = [f32; F32_LANES];

/// f32 rows summed together: enough independent lanes to hide the latency of the additions,
/// and each step of inputs is loaded (and, for pixels, normalized) once for all of them.
const ROWS: usize = 10;

/// The f32 dot products of every row with one input mapped through `x`, [`ROWS`] rows at a time.
#[inline(always)]
fn f32_dots<T: Copy>(
    weights: &[u8],
    input: &[T],
    x: impl Fn(T) -> f32 + Copy,
    dots: &mut [f32; MAX_CLASSES],
) {
    let rows = f32_rows(weights, input.len());
    let xs = input.as_chunks::<F32_LANES>().0;
    for (first, block) in rows.chunks(ROWS).enumerate() {
        // A last block of fewer rows repeats its first; the copies are not stored.
        let [r0, r1, r2, r3, r4, r5, r6, r7, r8, r9] =
            array::from_fn(|r| block.get(r).or(block.first()).copied().unwrap_or_default());
        let mut lanes = [[0.0; F32_LANES]; ROWS];
        let steps = xs.iter().zip(r0).zip(r1).zip(r2).zip(r3).zip(r4).zip(r5).zip(r6).zip(r7);
        for ((((((((((xs, w0), w1), w2), w3), w4), w5), w6), w7), w8), w9) in steps.zip(r8).zip(r9)
        {
            let xs = xs.map(x);
            for (lanes, w) in lanes.iter_mut().zip([w0, w1, w2, w3, w4, w5, w6, w7, w8, w9]) {
                multiply_add(lanes, &le_f32s(w), &xs);
            }
        }
        let first = first * ROWS;
        for (r, lanes) in lanes.iter().enumerate().take(block.len()) {
            if let Some(dot) = dots.get_mut(first + r) {
                *dot = finish(lanes, weights, first + r, input, x);
            }
        }
    }
}

/// The whole steps of every row of `inputs` f32 weights (at most [`MAX_CLASSES`] rows).
#[inline(always)]
fn f32_rows(weights: &[u8], inputs: usize) -> heapless::Vec<&[Step], MAX_CLASSES> {
    let rows = weights.chunks_exact((4 * inputs).max(1)).take(MAX_CLASSES);
    rows.map(|row| row.as_chunks::<{ 4 * F32_LANES }>().0).collect()
}

#[inline(always)]
fn multiply_add(lanes: &mut Lanes, weights: &Lanes, inputs: &Lanes) {
    for ((lane, w), x) in lanes.iter_mut().zip(weights).zip(inputs) {
        *lane += w * x;
    }
}

/// The f32s of one step of weights.
#[inline(always)]
fn le_f32s(step: &Step) -> Lanes {
    let (words, _) = step.as_chunks::<4>();
    array::from_fn(|j| words.get(j).map_or(0.0, |&b| f32::from_le_bytes(b)))
}

/// Row `row`'s dot product from its lanes: the lanes in order, plus the inputs past the last
/// whole step, as [`super::portable::dot_f32`] adds them.
#[inline(always)]
fn finish<T: Copy>(
    lanes: &Lanes,
    weights: &[u8],
    row: usize,
    input: &[T],
    x: impl Fn(T) -> f32,
) -> f32 {
    let done = input.len() / F32_LANES * F32_LANES;
    let rest = weights.get(4 * (row * input.len() + done)..4 * (row + 1) * input.len());
    let rest = f32s(rest.unwrap_or_default()).zip(input.get(done..).unwrap_or_default());
    lanes.iter().fold(0.0, |s, &l| s + l) + rest.fold(0.0, |s, (w, &v)| s + w * x(v))
}
