//! The host kernels at every level this CPU has, and at the baseline the others fall back to,
//! against the portable reference: bit for bit, one image and groups, awkward shapes.

use super::dispatch::Level;
use super::wide::Job;
use super::{F32_LANES, GROUP, MAX_BUFFERED_INPUTS, portable};
use crate::MAX_CLASSES;

/// Input counts around every step width (4, 8 and 16 pixel pairs), odd ones, and MNIST's.
const SHAPES: [usize; 14] = [1, 2, 3, 7, 8, 9, 31, 32, 33, 63, 64, 65, 784, MAX_BUFFERED_INPUTS];

/// A little xorshift: the tests need varied bytes, not good randomness.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }

    fn fill(&mut self, bytes: &mut [u8]) {
        bytes.iter_mut().for_each(|b| *b = self.next());
    }
}

/// The levels to check: all that run here. Printed, so a log tells what was covered.
fn levels() -> impl Iterator<Item = Level> {
    let levels = Level::ALL.iter().copied().filter(|level| level.available());
    std::println!("levels run: {:?}", levels.clone().collect::<std::vec::Vec<_>>());
    levels
}

/// Runs a quantized job at `level` for `G` images.
fn quantized<const G: usize>(
    level: Level,
    int4: bool,
    weights: &[u8],
    images: [&[u8]; G],
) -> [[i32; MAX_CLASSES]; G] {
    assert!(images.iter().all(|image| level.covers(image.len())));
    let mut dots = [[0; MAX_CLASSES]; G];
    let (images, dots_ref) = (&images, &mut dots);
    level.run(if int4 {
        Job::Int4 { weights, images, dots: dots_ref }
    } else {
        Job::Int8 { weights, images, dots: dots_ref }
    });
    dots
}

#[test]
fn quantized_kernels_equal_the_reference_at_every_level() {
    let mut bytes = Bytes(0x9e37_79b9_7f4a_7c15);
    for level in levels() {
        for n in SHAPES {
            for classes in [1, 10, MAX_CLASSES] {
                for int4 in [false, true] {
                    let row = if int4 { n.div_ceil(2) } else { n };
                    let mut weights = std::vec![0; classes * row];
                    bytes.fill(&mut weights);
                    if int4 && n % 2 == 1 {
                        // A valid int4 row's unused last nibble is 0.
                        weights.chunks_exact_mut(row).for_each(|r| *r.last_mut().unwrap() &= 0x0f);
                    }
                    let mut images = [[0u8; MAX_BUFFERED_INPUTS]; GROUP];
                    images.iter_mut().for_each(|image| bytes.fill(image));
                    // The extremes: every pixel 255 against the most negative weights.
                    images[1].fill(255);
                    let images = images.each_ref().map(|image| &image[..n]);
                    let mut expected = [[0; MAX_CLASSES]; GROUP];
                    for (expected, image) in expected.iter_mut().zip(images) {
                        let dots = &mut expected[..classes];
                        if int4 {
                            portable::int4_dots(&weights, image, dots);
                        } else {
                            portable::int8_dots(&weights, image, dots);
                        }
                    }
                    let what =
                        std::format!("{level:?}, {n} inputs, {classes} classes, int4 {int4}");
                    assert_eq!(quantized(level, int4, &weights, images), expected, "{what}, group");
                    for (image, expected) in images.iter().zip(&expected) {
                        let one = quantized(level, int4, &weights, [image]);
                        assert_eq!(&one[0], expected, "{what}, one image");
                    }
                }
            }
        }
    }
}

#[test]
fn f32_kernels_add_in_the_reference_order_at_every_level() {
    let mut seed = 1u32;
    // Small values of both signs, with every mantissa bit in play: rounding differs as soon as
    // the order of additions does.
    let mut next = || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        f32::from_bits(0x3f00_0000 | (seed >> 9)) - 1.25
    };
    let mut weights = std::vec![0u8; 4 * MAX_BUFFERED_INPUTS * MAX_CLASSES];
    weights.chunks_exact_mut(4).for_each(|w| w.copy_from_slice(&next().to_le_bytes()));
    let mut inputs = [[0.0f32; MAX_BUFFERED_INPUTS]; GROUP];
    inputs.iter_mut().flatten().for_each(|x| *x = next());
    for level in levels() {
        for n in SHAPES.into_iter().chain([F32_LANES - 1, F32_LANES + 1]) {
            for classes in [1, 3, 5, 10, MAX_CLASSES] {
                let weights = &weights[..4 * n * classes];
                let inputs = inputs.each_ref().map(|x| &x[..n]);
                let mut expected = [[0.0f32; MAX_CLASSES]; GROUP];
                for (expected, input) in expected.iter_mut().zip(inputs) {
                    for (dot, row) in expected.iter_mut().zip(weights.chunks_exact(4 * n)) {
                        *dot = portable::dot_f32(row, input, |x| x);
                    }
                }
                let bits = |dots: &[[f32; MAX_CLASSES]]| {
                    dots.iter().flatten().map(|d| d.to_bits()).collect::<std::vec::Vec<_>>()
                };
                let what = std::format!("{level:?}, {n} inputs, {classes} classes");
                let mut group = [[0.0; MAX_CLASSES]; GROUP];
                level.run(Job::F32 { weights, inputs: &inputs, dots: &mut group });
                assert_eq!(bits(&group), bits(&expected), "{what}, group");
                for (input, expected) in inputs.iter().zip(&expected) {
                    let mut one = [[0.0; MAX_CLASSES]];
                    level.run(Job::F32 { weights, inputs: &[input], dots: &mut one });
                    assert_eq!(bits(&one), bits(core::slice::from_ref(expected)), "{what}, one");
                }
            }
        }
    }
}

#[cfg(all(feature = "host", target_arch = "x86_64"))]
#[test]
fn the_fma_normalization_equals_the_division_for_every_pixel() {
    for p in 0..=u8::MAX {
        let (fma, division) = (super::dispatch::normalize_fma(p), crate::normalize_pixel(p));
        assert_eq!(fma.to_bits(), division.to_bits(), "pixel {p}");
    }
}

#[test]
fn f32_kernels_of_pixels_equal_the_reference_at_every_level() {
    let mut bytes = Bytes(7);
    let mut weights = std::vec![0u8; 4 * MAX_BUFFERED_INPUTS * MAX_CLASSES];
    for w in weights.chunks_exact_mut(4) {
        w.copy_from_slice(&(f32::from(bytes.next()) / 97.0 - 1.3).to_le_bytes());
    }
    let mut images = [[0u8; MAX_BUFFERED_INPUTS]; GROUP];
    images.iter_mut().for_each(|image| bytes.fill(image));
    for level in levels() {
        for n in SHAPES {
            let weights = &weights[..4 * n * 10];
            let images = images.each_ref().map(|image| &image[..n]);
            let mut dots = [[0.0f32; MAX_CLASSES]; GROUP];
            level.run(Job::F32Pixels { weights, images: &images, dots: &mut dots });
            for (dots, image) in dots.iter().zip(images) {
                for (dot, row) in dots.iter().zip(weights.chunks_exact(4 * n)) {
                    let expected = portable::dot_f32(row, image, crate::normalize_pixel);
                    assert_eq!(dot.to_bits(), expected.to_bits(), "{level:?}, {n} inputs");
                }
            }
        }
    }
}
