//! AVX2 kernels for the quantized schemes (x86-64, feature `host`): 256-bit `vpmaddwd`, 16
//! multiply-adds per instruction, exact (i16 products of |w| <= 128 and pixels <= 255, added
//! into i32). Written with `pulp`'s safe intrinsics, which run only inside
//! [`V3::vectorize`](pulp::x86::V3::vectorize) on a CPU that has AVX2; vectors are loaded by
//! casting arrays (`pulp::cast`), so there is no `unsafe` here either. Compilers do not reach
//! this width from plain Rust: they split the reduction into 128-bit halves.
//! The pixels are widened in registers as they are loaded (no buffer), once for five rows; a
//! batch goes two images at a time, each row's weights widened once for both. int8: each row's
//! weights sign-extended to i16. int4: each 16-bit lane of pixels holds an even pixel (low
//! byte) and an odd one (high byte), the pair of a weight byte's low and high nibbles; a last
//! partial vector of pixels is padded with zeros, as an odd row's unused nibble is 0.

use core::arch::x86_64::{__m128i, __m256i};

use pulp::cast;
use pulp::x86::V3;

use crate::MAX_CLASSES;

/// Rows summed together: each vector of pixels, loaded and widened once, serves them all.
const ROWS: usize = 5;

/// Dot products of every int8 row with the pixels, into `dots`.
#[inline(always)]
pub(crate) fn int8_dots(simd: V3, weights: &[u8], pixels: &[u8], dots: &mut [i32; MAX_CLASSES]) {
    let (vectors, rest) = pixels.as_chunks::<16>();
    let rows = weights.chunks_exact(pixels.len().max(1)).take(MAX_CLASSES);
    let rows: heapless::Vec<&[u8], MAX_CLASSES> = rows.collect();
    for (first, block) in rows.chunks(ROWS).enumerate() {
        let [r0, r1, r2, r3, r4] = block_of(block).map(|row| row.as_chunks::<16>().0);
        let mut sums = [[simd.avx._mm256_setzero_si256(); ROWS]];
        for (((((&p, &w0), &w1), &w2), &w3), &w4) in
            vectors.iter().zip(r0).zip(r1).zip(r2).zip(r3).zip(r4)
        {
            int8_step(simd, &mut sums, [p], [w0, w1, w2, w3, w4]);
        }
        int8_store(&mut [dots], &sums, [rest], block, first, 16 * vectors.len());
    }
}

/// [`int8_dots`] for two images of the same length at once: each row's weights, loaded and
/// widened once, serve both.
#[inline(always)]
pub(crate) fn int8_dots_pair(
    simd: V3,
    weights: &[u8],
    [a, b]: [&[u8]; 2],
    dots: [&mut [i32; MAX_CLASSES]; 2],
) {
    let ((vectors_a, rest_a), (vectors_b, rest_b)) = (a.as_chunks::<16>(), b.as_chunks::<16>());
    let rows = weights.chunks_exact(a.len().max(1)).take(MAX_CLASSES);
    let rows: heapless::Vec<&[u8], MAX_CLASSES> = rows.collect();
    let mut dots = dots;
    for (first, block) in rows.chunks(ROWS).enumerate() {
        let [r0, r1, r2, r3, r4] = block_of(block).map(|row| row.as_chunks::<16>().0);
        let mut sums = [[simd.avx._mm256_setzero_si256(); ROWS]; 2];
        for ((((((&pa, &pb), &w0), &w1), &w2), &w3), &w4) in
            vectors_a.iter().zip(vectors_b).zip(r0).zip(r1).zip(r2).zip(r3).zip(r4)
        {
            int8_step(simd, &mut sums, [pa, pb], [w0, w1, w2, w3, w4]);
        }
        int8_store(&mut dots, &sums, [rest_a, rest_b], block, first, 16 * vectors_a.len());
    }
}

/// One vector of 16 pixels of each of `N` images against 16 weights of each of the [`ROWS`]
/// rows: the pixels zero-extended and the weights sign-extended to i16, once each.
#[inline(always)]
fn int8_step<const N: usize>(
    simd: V3,
    sums: &mut [[__m256i; ROWS]; N],
    pixels: [[u8; 16]; N],
    rows: [[u8; 16]; ROWS],
) {
    let pixels = pixels.map(|p| simd.avx2._mm256_cvtepu8_epi16(cast::<_, __m128i>(p)));
    for (r, w) in rows.into_iter().enumerate() {
        let w = simd.avx2._mm256_cvtepi8_epi16(cast::<_, __m128i>(w));
        for (sums, &p) in sums.iter_mut().zip(&pixels) {
            sums[r] = simd.avx2._mm256_add_epi32(sums[r], simd.avx2._mm256_madd_epi16(w, p));
        }
    }
}

/// Writes the sums of `block`'s rows (from row `first`) into each image's dots, adding the
/// products of the pixels past the whole vectors (`rests`) with each row's weights from `done`.
#[inline(always)]
fn int8_store<const N: usize>(
    dots: &mut [&mut [i32; MAX_CLASSES]; N],
    sums: &[[__m256i; ROWS]; N],
    rests: [&[u8]; N],
    block: &[&[u8]],
    first: usize,
    done: usize,
) {
    for ((dots, sums), rest) in dots.iter_mut().zip(sums).zip(rests) {
        for ((dot, &row), &sums) in dots.iter_mut().skip(first * ROWS).zip(block).zip(sums) {
            let row_rest = row.get(done..).unwrap_or_default().iter().zip(rest);
            let tail = row_rest.map(|(&w, &p)| i32::from(w as i8) * i32::from(p));
            *dot = horizontal_sum(sums) + tail.sum::<i32>();
        }
    }
}

/// Dot products of every int4 row (`ceil(n/2)` bytes) with the pixels, into `dots`.
#[inline(always)]
pub(crate) fn int4_dots(simd: V3, weights: &[u8], pixels: &[u8], dots: &mut [i32; MAX_CLASSES]) {
    let (vectors, rest) = pixels.as_chunks::<32>();
    let rows = weights.chunks_exact(pixels.len().div_ceil(2).max(1)).take(MAX_CLASSES);
    let rows: heapless::Vec<&[u8], MAX_CLASSES> = rows.collect();
    for (first, block) in rows.chunks(ROWS).enumerate() {
        let [r0, r1, r2, r3, r4] = block_of(block).map(|row| row.as_chunks::<16>().0);
        let mut sums = [[simd.avx._mm256_setzero_si256(); ROWS]];
        for (((((&p, &b0), &b1), &b2), &b3), &b4) in
            vectors.iter().zip(r0).zip(r1).zip(r2).zip(r3).zip(r4)
        {
            int4_step(simd, &mut sums, [cast(p)], [b0, b1, b2, b3, b4]);
        }
        int4_finish(simd, &mut sums, [rest], block, 16 * vectors.len());
        store(&mut [dots], &sums, first, block.len());
    }
}

/// [`int4_dots`] for two images of the same length at once: each row's nibbles, unpacked once,
/// serve both.
#[inline(always)]
pub(crate) fn int4_dots_pair(
    simd: V3,
    weights: &[u8],
    [a, b]: [&[u8]; 2],
    dots: [&mut [i32; MAX_CLASSES]; 2],
) {
    let ((vectors_a, rest_a), (vectors_b, rest_b)) = (a.as_chunks::<32>(), b.as_chunks::<32>());
    let rows = weights.chunks_exact(a.len().div_ceil(2).max(1)).take(MAX_CLASSES);
    let rows: heapless::Vec<&[u8], MAX_CLASSES> = rows.collect();
    let mut dots = dots;
    for (first, block) in rows.chunks(ROWS).enumerate() {
        let [r0, r1, r2, r3, r4] = block_of(block).map(|row| row.as_chunks::<16>().0);
        let mut sums = [[simd.avx._mm256_setzero_si256(); ROWS]; 2];
        for ((((((&pa, &pb), &b0), &b1), &b2), &b3), &b4) in
            vectors_a.iter().zip(vectors_b).zip(r0).zip(r1).zip(r2).zip(r3).zip(r4)
        {
            int4_step(simd, &mut sums, [cast(pa), cast(pb)], [b0, b1, b2, b3, b4]);
        }
        int4_finish(simd, &mut sums, [rest_a, rest_b], block, 16 * vectors_a.len());
        store(&mut dots, &sums, first, block.len());
    }
}

/// One vector of 32 pixels of each of `N` images against 16 weight bytes of each of the
/// [`ROWS`] rows: low nibbles with the even pixels (the low byte of each 16-bit lane), high
/// nibbles with the odd ones.
#[inline(always)]
fn int4_step<const N: usize>(
    simd: V3,
    sums: &mut [[__m256i; ROWS]; N],
    pixels: [__m256i; N],
    rows: [[u8; 16]; ROWS],
) {
    let even = pixels.map(|p| simd.avx2._mm256_and_si256(p, simd.avx._mm256_set1_epi16(0x00ff)));
    let odd = pixels.map(|p| simd.avx2._mm256_srli_epi16::<8>(p));
    for (r, bytes) in rows.into_iter().enumerate() {
        let bytes = simd.avx2._mm256_cvtepi8_epi16(cast::<_, __m128i>(bytes));
        let low = simd.avx2._mm256_srai_epi16::<12>(simd.avx2._mm256_slli_epi16::<12>(bytes));
        let high = simd.avx2._mm256_srai_epi16::<4>(bytes);
        for ((sums, &even), &odd) in sums.iter_mut().zip(&even).zip(&odd) {
            let products = simd.avx2._mm256_add_epi32(
                simd.avx2._mm256_madd_epi16(low, even),
                simd.avx2._mm256_madd_epi16(high, odd),
            );
            sums[r] = simd.avx2._mm256_add_epi32(sums[r], products);
        }
    }
}

/// The pixels past the whole vectors (`rests`), padded with zeros, against the rest of each
/// row of `block` from byte `done`, padded too: an odd row's unused nibble is 0.
#[inline(always)]
fn int4_finish<const N: usize>(
    simd: V3,
    sums: &mut [[__m256i; ROWS]; N],
    rests: [&[u8]; N],
    block: &[&[u8]],
    done: usize,
) {
    if rests.iter().all(|rest| rest.is_empty()) {
        return;
    }
    let bytes = block_of(block).map(|row| padded::<16>(row.get(done..).unwrap_or_default()));
    int4_step(simd, sums, rests.map(|rest| cast(padded::<32>(rest))), bytes);
}

/// Writes the sums of the first `rows` of a block starting at row `first` into each image's dots.
#[inline(always)]
fn store<const N: usize>(
    dots: &mut [&mut [i32; MAX_CLASSES]; N],
    sums: &[[__m256i; ROWS]; N],
    first: usize,
    rows: usize,
) {
    for (dots, sums) in dots.iter_mut().zip(sums) {
        for (dot, sums) in dots.iter_mut().skip(first * ROWS).zip(&sums[..rows]) {
            *dot = horizontal_sum(*sums);
        }
    }
}

/// The first `N` of `bytes`, padded with zeros.
#[inline(always)]
fn padded<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut padded = [0; N];
    let n = bytes.len().min(N);
    padded[..n].copy_from_slice(&bytes[..n]);
    padded
}

/// [`ROWS`] rows from a block of at most that many: a shorter last block repeats its first row,
/// whose extra sums are not stored.
#[inline(always)]
fn block_of<'w>(block: &[&'w [u8]]) -> [&'w [u8]; ROWS] {
    core::array::from_fn(|r| block.get(r).or(block.first()).copied().unwrap_or_default())
}

/// The sum of a vector's eight i32 lanes.
#[inline(always)]
fn horizontal_sum(sums: __m256i) -> i32 {
    cast::<_, [i32; 8]>(sums).iter().sum()
}
