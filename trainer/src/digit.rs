//! A picture of a digit, any size, prepared the way MNIST's digits were: grayscale, white ink on
//! black, scaled so its bounding box fits 20x20 (keeping the aspect ratio), and placed in a
//! 28x28 image so that its centre of mass is at the centre.

use std::path::Path;

use image::imageops::{self, FilterType};
use image::{GrayImage, Luma};

use crate::data::PIXELS;

/// Pixels darker than this (after inversion, 0-255) do not count as ink for the bounding box.
const INK_THRESHOLD: u8 = 40;

/// Why a picture could not be turned into a digit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DigitError {
    /// The file is not a readable PNG or JPEG.
    #[error("{path}: cannot read the image: {source} (PNG and JPEG are supported)")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// What the decoder said.
        source: image::ImageError,
    },
    /// Nothing in the picture stands out from the background.
    #[error("no ink found: the picture is blank (try --invert if the digit is light on dark)")]
    Blank,
}

/// Ink colour relative to the paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ink {
    /// Decide from the picture: a light border means dark ink on light paper.
    Auto,
    /// Light ink on a dark background, as in MNIST.
    Light,
    /// Dark ink on light paper: inverted first.
    Dark,
}

/// A 28x28 MNIST-style image, and whether the picture was inverted to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Row-major pixels, 0 = background.
    pub pixels: [u8; PIXELS],
    /// Whether dark ink was turned light.
    pub inverted: bool,
}

/// Reads and prepares a picture file.
pub fn load(path: &Path, ink: Ink) -> Result<Prepared, DigitError> {
    let picture =
        image::open(path).map_err(|source| DigitError::Read { path: path.into(), source })?;
    prepare(&picture.to_luma8(), ink)
}

/// Prepares a grayscale picture (see the module docs).
pub fn prepare(gray: &GrayImage, ink: Ink) -> Result<Prepared, DigitError> {
    let inverted = match ink {
        Ink::Auto => border_mean(gray) > 127.0,
        Ink::Light => false,
        Ink::Dark => true,
    };
    let mut gray = gray.clone();
    if inverted {
        imageops::invert(&mut gray);
    }
    let (x0, y0, x1, y1) = bounding_box(&gray).ok_or(DigitError::Blank)?;
    let cropped = imageops::crop_imm(&gray, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    let (w, h) = cropped.dimensions();
    let scale = 20.0 / w.max(h) as f32;
    let (w, h) =
        (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
    let digit = imageops::resize(&cropped, w, h, FilterType::CatmullRom);

    // Centre of mass to the centre of the 28x28 field, keeping the digit inside it.
    let (cx, cy) = centre_of_mass(&digit);
    let left = (14.0 - cx).round().clamp(0.0, (28 - w) as f32) as u32;
    let top = (14.0 - cy).round().clamp(0.0, (28 - h) as f32) as u32;
    let mut field = GrayImage::new(28, 28);
    imageops::replace(&mut field, &digit, i64::from(left), i64::from(top));

    let mut pixels = [0; PIXELS];
    pixels.copy_from_slice(field.as_raw());
    Ok(Prepared { pixels, inverted })
}

fn border_mean(gray: &GrayImage) -> f64 {
    let (w, h) = gray.dimensions();
    let border = gray
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == w - 1 || *y == h - 1);
    let (sum, n) =
        border.fold((0u64, 0u64), |(s, n), (_, _, Luma([p]))| (s + u64::from(*p), n + 1));
    sum as f64 / n.max(1) as f64
}

fn bounding_box(gray: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    gray.enumerate_pixels().filter(|(_, _, Luma([p]))| *p > INK_THRESHOLD).fold(
        None,
        |b, (x, y, _)| {
            Some(match b {
                None => (x, y, x, y),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            })
        },
    )
}

fn centre_of_mass(gray: &GrayImage) -> (f32, f32) {
    let (mut m, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y, Luma([p])) in gray.enumerate_pixels() {
        let p = f64::from(*p);
        m += p;
        mx += p * (f64::from(x) + 0.5);
        my += p * (f64::from(y) + 0.5);
    }
    if m == 0.0 {
        let (w, h) = gray.dimensions();
        return (w as f32 / 2.0, h as f32 / 2.0);
    }
    ((mx / m) as f32, (my / m) as f32)
}
