//! What int4 quantization learns from the training images, and only from them: how the
//! pixels vary together. With 16 levels, rounding each weight to its nearest level costs about
//! 0.3 pp of accuracy; rounding the weights one after another, each time moving the weights
//! not yet rounded to cancel what the last rounding did to the logits on the training images
//! (GPTQ, Frantar et al. 2022, for one linear layer), keeps the int4 model within about
//! 0.1 pp of the float one.

use crate::data::{PIXELS, Split};
use crate::linalg::{self, dot};

/// The training pixels' second moments and the factor that spreads rounding errors.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// `G = X^T X` over the raw pixels of the training images ([`SAMPLE`] of them at most),
    /// `[PIXELS][PIXELS]`: for a weight error `e` of one class, `e^T G e / 255^2` is the summed
    /// squared error of that class's logits on those images.
    gram: Vec<f64>,
    /// The pixels by ascending `G[p][p]` (ties by index): rounded from last to first, so the
    /// pixels that are lit most often are rounded first and the rarely lit ones absorb errors.
    order: Vec<usize>,
    /// `L^-1`, `L` the lower Cholesky factor of `G + damping I` in `order`: row `m` holds how
    /// an error on pixel `order[m]` is best spread over the pixels `order[..m]`.
    spread: Vec<f64>,
}

impl Calibration {
    /// Measures the training images. Pass the training split: accuracy is measured on the test
    /// split, which must play no part in making the model.
    pub fn from_training(train: &Split) -> Self {
        let gram = gram(train);
        let diagonal = |p: usize| gram[p * PIXELS + p];
        let mut order: Vec<usize> = (0..PIXELS).collect();
        order.sort_by(|&a, &b| diagonal(a).total_cmp(&diagonal(b)).then(a.cmp(&b)));
        // Damped as GPTQ does (1% of the mean diagonal), so pixels never lit in training, whose
        // rows are zero, still give a positive-definite matrix.
        let mean = (0..PIXELS).map(diagonal).sum::<f64>() / PIXELS as f64;
        let damping = (0.01 * mean).max(1.0);
        let mut damped = vec![0.0; PIXELS * PIXELS];
        for (a, &p) in order.iter().enumerate() {
            for (b, &r) in order.iter().enumerate() {
                damped[a * PIXELS + b] = gram[p * PIXELS + r] + if a == b { damping } else { 0.0 };
            }
        }
        let factor =
            linalg::cholesky(damped, PIXELS).expect("a damped Gram matrix is positive definite");
        Self { gram, order, spread: linalg::invert_lower(&factor, PIXELS) }
    }

    /// `e^T G e`: the summed squared logit error on the training images (times 255^2) of a
    /// class whose weights are off by `error`.
    pub fn logit_error(&self, error: &[f64]) -> f64 {
        let weighted: Vec<f64> =
            self.gram.chunks_exact(PIXELS).map(|row| dot(row, error)).collect();
        dot(&weighted, error)
    }

    /// One class's weights as int4 values `q` in `-8..=7` for `scale` (`w ~ q * scale`): each
    /// weight is rounded to the nearest level in turn, and its rounding error is spread over
    /// the weights not yet rounded as `L^-1` says, which minimizes the logit error left.
    pub fn round(&self, row: &[f32], scale: f32) -> Vec<i8> {
        let mut w: Vec<f64> = self.order.iter().map(|&p| f64::from(row[p])).collect();
        let mut q = vec![0i8; PIXELS];
        let scale = f64::from(scale);
        for m in (0..PIXELS).rev() {
            let level = if scale > 0.0 { (w[m] / scale).round().clamp(-8.0, 7.0) } else { 0.0 };
            q[self.order[m]] = level as i8;
            let spread = &self.spread[m * PIXELS..m * PIXELS + m + 1];
            let error = (w[m] - level * scale) / spread[m];
            for (x, &s) in w[..m].iter_mut().zip(spread) {
                *x -= error * s;
            }
        }
        q
    }
}

/// How many training images, at most, [`gram`] measures. The second moments of 784 pixels are
/// well estimated from far fewer than MNIST's 60,000 images: a quarter of them (every fourth)
/// keeps the int4 test accuracy as close to the float one, for a quarter of the time.
const SAMPLE: usize = 15_000;

/// `X^T X` over the raw pixels of evenly spaced training images (at most [`SAMPLE`]), from each
/// image's lit pixels only (about a fifth of them in MNIST), summed exactly in u32: half the
/// memory of f64 sums keeps the rows an image touches in cache.
fn gram(train: &Split) -> Vec<f64> {
    const _: () = assert!(SAMPLE as u64 * 255 * 255 <= u32::MAX as u64, "u32 sums overflow");
    let mut sums = vec![0u32; PIXELS * PIXELS];
    let mut lit = Vec::with_capacity(PIXELS);
    let stride = train.len().div_ceil(SAMPLE).max(1);
    for image in train.images.chunks_exact(PIXELS).step_by(stride) {
        lit.clear();
        lit.extend(
            image.iter().enumerate().filter(|(_, p)| **p > 0).map(|(i, &p)| (i, u32::from(p))),
        );
        for (a, &(i, p)) in lit.iter().enumerate() {
            let row = &mut sums[i * PIXELS..(i + 1) * PIXELS];
            for &(j, r) in &lit[a..] {
                row[j] += p * r;
            }
        }
    }
    // Only j >= i was summed: mirror it.
    let mut gram = vec![0.0; PIXELS * PIXELS];
    for i in 0..PIXELS {
        for j in i..PIXELS {
            let value = f64::from(sums[i * PIXELS + j]);
            (gram[i * PIXELS + j], gram[j * PIXELS + i]) = (value, value);
        }
    }
    gram
}
