//! Dot products: the inner loop of inference.
//!
//! Quantized weights come in two [`Packing`]s, int8 and int4 (two per byte); every kernel
//! computes the exact integer dot products of the weights with the raw pixels.
//! [`portable`] is the reference and runs everywhere. On 64-bit hosts [`wide`] computes the same
//! integer sums in a shape the compiler vectorizes, for one image or a [`GROUP`] of them, with
//! the widest instruction set the CPU has ([`dispatch`]); on Cortex-M cores with the DSP
//! extension [`arm_dsp`] computes them with SMLAD, and on cores with MVE (Cortex-M55)
//! [`arm_mve`] with VMLADAVA. Integer sums are exact, so every kernel must equal the reference
//! bit for bit: the host tests check `wide` at every level the CPU has, the firmware under QEMU
//! checks `arm_dsp` and `arm_mve`.
//! The f32 dot products likewise have a vectorizing form in `wide` and a compact one in
//! `portable` that add the same products in the same order; the host tests compare them.

#[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
mod arm_dsp;
#[cfg(all(target_arch = "arm", feature = "arm-mve"))]
mod arm_mve;
#[cfg(all(feature = "host", target_arch = "x86_64"))]
mod avx2;
#[cfg(target_pointer_width = "64")]
mod dispatch;
pub(crate) mod portable;
#[cfg(target_pointer_width = "64")]
mod wide;
#[cfg(all(test, target_pointer_width = "64"))]
mod wide_tests;

#[cfg(target_pointer_width = "64")]
use core::array;
use core::mem::MaybeUninit;

#[cfg(target_pointer_width = "64")]
pub(crate) use dispatch::Level;

use crate::MAX_CLASSES;

/// How a quantized model stores its weights (see [`blob`](crate::blob)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packing {
    /// One i8 per weight.
    #[cfg(feature = "int8")]
    Int8,
    /// Two 4-bit weights per byte, low nibble first; each row starts on a byte.
    #[cfg(feature = "int4")]
    Int4,
}

/// Room for one dot product per class, which [`Prepared::dots`] writes: left
/// uninitialized by the caller, as the MVE kernel writes its sums straight into it, so an
/// inference zeroes no array.
pub(crate) type Sums = MaybeUninit<[i32; MAX_CLASSES]>;

/// What the quantized kernel of this build needs besides the weights, computed from them once per
/// model (`Model` keeps it) rather than at every inference. With `arm-mve` on Arm: the sum of
/// each row times 128 (times 16 more for int4), where [`arm_mve`] starts the row's dot product.
/// Elsewhere: nothing.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Prepared {
    #[cfg(all(target_arch = "arm", feature = "arm-mve"))]
    starts: [i32; MAX_CLASSES],
}

impl Prepared {
    /// For `weights` packed as `packing`, `inputs` per row.
    #[cfg(all(target_arch = "arm", feature = "arm-mve"))]
    pub(crate) fn new(packing: Packing, weights: &[u8], inputs: usize) -> Self {
        match packing {
            #[cfg(feature = "int8")]
            Packing::Int8 => Self { starts: arm_mve::starts(weights, inputs) },
            #[cfg(feature = "int4")]
            Packing::Int4 => Self { starts: arm_mve::int4_starts(weights, inputs) },
        }
    }

    /// Nothing to compute on this build.
    #[cfg(not(all(target_arch = "arm", feature = "arm-mve")))]
    pub(crate) fn new(_: Packing, _: &[u8], _: usize) -> Self {
        Self {}
    }

    /// `sum_i weights[c][i] * pixels[i]` for every class `c < classes` (at most
    /// [`MAX_CLASSES`]), with the fastest kernel this target has for the shape: written into
    /// `sums` and returned as its first `classes` entries. `weights` holds `classes` rows of
    /// `pixels.len()` weights packed as `packing`, the ones `self` was prepared from.
    #[inline]
    pub(crate) fn dots<'s>(
        &self,
        packing: Packing,
        weights: &[u8],
        pixels: &[u8],
        classes: usize,
        sums: &'s mut Sums,
    ) -> &'s [i32] {
        match packing {
            #[cfg(feature = "int8")]
            Packing::Int8 => self.int8_dots(weights, pixels, classes, sums),
            #[cfg(feature = "int4")]
            Packing::Int4 => int4_dots(self, weights, pixels, classes, sums),
        }
    }

    #[cfg(feature = "int8")]
    #[inline]
    fn int8_dots<'s>(
        &self,
        weights: &[u8],
        pixels: &[u8],
        classes: usize,
        sums: &'s mut Sums,
    ) -> &'s [i32] {
        #[cfg(all(target_arch = "arm", feature = "arm-mve"))]
        let sums = match arm_mve::int8_dots(weights, &self.starts, pixels, classes, sums) {
            Ok(dots) => return dots,
            Err(sums) => sums,
        };
        let all = sums.write([0; MAX_CLASSES]);
        #[cfg(target_pointer_width = "64")]
        if host_dots(Packing::Int8, weights, [pixels], array::from_mut(all)) {
            return all.get(..classes).unwrap_or_default();
        }
        let dots = all.get_mut(..classes).unwrap_or_default();
        #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
        if arm_dsp::int8_dots(weights, pixels, dots) {
            return dots;
        }
        portable::int8_dots(weights, pixels, dots);
        dots
    }
}

#[cfg(feature = "int4")]
#[inline]
fn int4_dots<'s>(
    #[cfg_attr(not(all(target_arch = "arm", feature = "arm-mve")), expect(unused_variables))]
    prepared: &Prepared,
    weights: &[u8],
    pixels: &[u8],
    classes: usize,
    sums: &'s mut Sums,
) -> &'s [i32] {
    #[cfg(all(target_arch = "arm", feature = "arm-mve"))]
    let sums = match arm_mve::int4_dots(weights, &prepared.starts, pixels, classes, sums) {
        Ok(dots) => return dots,
        Err(sums) => sums,
    };
    let all = sums.write([0; MAX_CLASSES]);
    #[cfg(target_pointer_width = "64")]
    if host_dots(Packing::Int4, weights, [pixels], array::from_mut(all)) {
        return all.get(..classes).unwrap_or_default();
    }
    let dots = all.get_mut(..classes).unwrap_or_default();
    #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
    if arm_dsp::int4_dots(weights, pixels, dots) {
        return dots;
    }
    portable::int4_dots(weights, pixels, dots);
    dots
}

/// [`Prepared::dots`] with the portable reference kernels.
pub(crate) fn portable_dots<'s>(
    _: &Prepared,
    packing: Packing,
    weights: &[u8],
    pixels: &[u8],
    classes: usize,
    sums: &'s mut Sums,
) -> &'s [i32] {
    let dots = sums.write([0; MAX_CLASSES]).get_mut(..classes).unwrap_or_default();
    match packing {
        #[cfg(feature = "int8")]
        Packing::Int8 => portable::int8_dots(weights, pixels, dots),
        #[cfg(feature = "int4")]
        Packing::Int4 => portable::int4_dots(weights, pixels, dots),
    }
    dots
}

/// Images per pass over the weights in [`group_dots`] and [`f32_dots`]: their sums fit the
/// registers beside one row's weights.
pub(crate) const GROUP: usize = 4;

/// [`Prepared::dots`] for a [`GROUP`] of images with the same number of pixels, into one array
/// of sums per image: `false` (nothing done) where this target has no group kernel, and the
/// caller runs the images one by one.
pub(crate) fn group_dots(
    packing: Packing,
    weights: &[u8],
    images: [&[u8]; GROUP],
    dots: &mut [[i32; MAX_CLASSES]; GROUP],
) -> bool {
    #[cfg(target_pointer_width = "64")]
    return host_dots(packing, weights, images, dots);
    #[cfg(not(target_pointer_width = "64"))]
    {
        let _ = (packing, weights, images, dots);
        false
    }
}

/// The quantized dot products of `G` images on a 64-bit host, at the best [`Level`] of the
/// CPU. `false` (nothing done) for images no host kernel covers.
#[cfg(target_pointer_width = "64")]
fn host_dots<const G: usize>(
    packing: Packing,
    weights: &[u8],
    images: [&[u8]; G],
    dots: &mut [[i32; MAX_CLASSES]; G],
) -> bool {
    let level = Level::best();
    if !images.iter().all(|image| level.covers(image.len())) {
        return false;
    }
    level.run(match packing {
        #[cfg(feature = "int8")]
        Packing::Int8 => wide::Job::Int8 { weights, images: &images, dots },
        #[cfg(feature = "int4")]
        Packing::Int4 => wide::Job::Int4 { weights, images: &images, dots },
    });
    true
}

/// The f32 dot products of every row of `weights` with each of `inputs` (without the bias), in
/// the order [`portable::dot_f32`] adds them, at the best [`Level`] of the CPU.
#[cfg(target_pointer_width = "64")]
pub(crate) fn f32_dots<const G: usize>(
    weights: &[u8],
    inputs: [&[f32]; G],
    dots: &mut [[f32; MAX_CLASSES]; G],
) {
    Level::best().run(wide::Job::F32 { weights, inputs: &inputs, dots });
}

/// The f32 dot products of every row of `weights` with each of `images`, normalized, as
/// [`f32_dots`] computes them.
#[cfg(target_pointer_width = "64")]
pub(crate) fn f32_pixel_dots<const G: usize>(
    weights: &[u8],
    images: [&[u8]; G],
    dots: &mut [[f32; MAX_CLASSES]; G],
) {
    Level::best().run(wide::Job::F32Pixels { weights, images: &images, dots });
}

/// Most pixels that the baseline host kernels widen to i16 once, into a stack buffer, instead of
/// once per class (larger images use the portable kernel).
#[cfg(target_pointer_width = "64")]
pub(crate) const MAX_BUFFERED_INPUTS: usize = 1024;

/// Lanes of independent f32 accumulators: enough for the compiler to vectorize, summed in a
/// fixed order afterwards, so the result is the same on every target.
const F32_LANES: usize = 8;
