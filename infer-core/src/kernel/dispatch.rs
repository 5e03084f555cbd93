//! Which instruction set runs the 64-bit host kernels ([`Job`]): with the `host` feature on
//! x86-64, AVX2 where the CPU has it, detected at run time by `pulp`; otherwise, and always on
//! AArch64, whose NEON is baseline, the target's baseline (SSE2 on x86-64).
//!
//! `pulp` runs code compiled for an instruction set only on a CPU that has it, through safe
//! calls, so infer-core holds no `unsafe`. Integer sums are exact and the f32 sums keep their
//! order, so every level gives the same bits: the tests run each level this CPU has against the
//! portable kernel.

#[cfg(all(feature = "host", target_arch = "x86_64"))]
use pulp::x86::V3;

#[cfg(all(feature = "host", target_arch = "x86_64"))]
use crate::MAX_CLASSES;

#[cfg(all(feature = "host", target_arch = "x86_64"))]
use super::avx2;
use super::wide::{self, Job};

/// An instruction set the host kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// The target's baseline: SSE2 on x86-64, NEON on AArch64.
    Baseline,
    /// AVX2 (with FMA, BMI1/2 and LZCNT: x86-64-v3): 256-bit `vpmaddwd`.
    #[cfg(all(feature = "host", target_arch = "x86_64"))]
    Avx2,
}

impl Level {
    /// Every level this build has, narrowest first.
    pub(crate) const ALL: &[Level] = &[
        Level::Baseline,
        #[cfg(all(feature = "host", target_arch = "x86_64"))]
        Level::Avx2,
    ];

    /// Whether this CPU runs the level.
    pub(crate) fn available(self) -> bool {
        match self {
            Level::Baseline => true,
            #[cfg(all(feature = "host", target_arch = "x86_64"))]
            Level::Avx2 => V3::is_available(),
        }
    }

    /// The widest level this CPU runs.
    pub(crate) fn best() -> Level {
        Self::ALL.iter().rev().copied().find(|level| level.available()).unwrap_or(Level::Baseline)
    }

    /// The level's name, as [`crate::host_kernel`] reports it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "aarch64")]
            Level::Baseline => "neon",
            #[cfg(not(target_arch = "aarch64"))]
            Level::Baseline => "baseline",
            #[cfg(all(feature = "host", target_arch = "x86_64"))]
            Level::Avx2 => "avx2",
        }
    }

    /// Whether this level's quantized kernels take images of `inputs` pixels.
    pub(crate) fn covers(self, inputs: usize) -> bool {
        match self {
            Level::Baseline => wide::widens(inputs),
            #[cfg(all(feature = "host", target_arch = "x86_64"))]
            Level::Avx2 => inputs > 0,
        }
    }

    /// Runs `job` with this level's kernels; a level the CPU lacks runs the baseline.
    pub(crate) fn run(self, job: Job<'_>) {
        match self {
            Level::Baseline => job.run(),
            #[cfg(all(feature = "host", target_arch = "x86_64"))]
            Level::Avx2 => match V3::try_new() {
                Some(simd) => run_avx2(simd, job),
                None => job.run(),
            },
        }
    }
}

/// [`Job`] on a CPU with AVX2: the quantized ones with the [`avx2`] kernels, the f32 ones
/// with [`Job::run`] compiled for AVX2 (the closure is inlined into `pulp`'s `vectorize`, whose
/// function enables the features).
#[cfg(all(feature = "host", target_arch = "x86_64"))]
fn run_avx2(simd: V3, job: Job<'_>) {
    simd.vectorize(
        #[inline(always)]
        || match job {
            Job::Int8 { weights, images, dots } => in_pairs(
                images,
                dots,
                |image, dots| avx2::int8_dots(simd, weights, image, dots),
                |pair, dots| avx2::int8_dots_pair(simd, weights, pair, dots),
            ),
            Job::Int4 { weights, images, dots } => in_pairs(
                images,
                dots,
                |image, dots| avx2::int4_dots(simd, weights, image, dots),
                |pair, dots| avx2::int4_dots_pair(simd, weights, pair, dots),
            ),
            job => job.run_normalizing(normalize_fma),
        },
    )
}

/// Runs `pair` on the images two at a time and `one` on a last odd one, each with its sums.
#[cfg(all(feature = "host", target_arch = "x86_64"))]
#[inline(always)]
fn in_pairs(
    images: &[&[u8]],
    dots: &mut [[i32; MAX_CLASSES]],
    one: impl Fn(&[u8], &mut [i32; MAX_CLASSES]),
    pair: impl Fn([&[u8]; 2], [&mut [i32; MAX_CLASSES]; 2]),
) {
    for (images, dots) in images.chunks(2).zip(dots.chunks_mut(2)) {
        match (images, dots) {
            (&[a, b], [dots_a, dots_b]) => pair([a, b], [dots_a, dots_b]),
            (&[image], [dots]) => one(image, dots),
            _ => {}
        }
    }
}

/// [`normalize_pixel`](crate::normalize_pixel) without a division, which costs the f32 kernel
/// more than its products: `p * (1/255)`, corrected by one fused multiply-add step. Equal to it
/// for every pixel value (a test checks all 256); FMA comes with AVX2 (x86-64-v3).
#[cfg(all(feature = "host", target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn normalize_fma(pixel: u8) -> f32 {
    const RECIPROCAL: f32 = 1.0 / 255.0;
    let (x, q) = (f32::from(pixel), f32::from(pixel) * RECIPROCAL);
    (-q).mul_add(255.0, x).mul_add(RECIPROCAL, q)
}
