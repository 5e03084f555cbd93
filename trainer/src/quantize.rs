//! f32 -> int8 and f32 -> int4: symmetric, one scale per output class, f32 bias.

use crate::calibration::Calibration;
use crate::data::PIXELS;
use crate::model::{FloatModel, Int4Model, QuantizedModel};

/// Quantizes each class's weight row to `[-127, 127]` with `scale = max|w| / 127`, so that
/// `w ~ q * scale`; the bias stays f32. Per-class scales keep the quantization error of each
/// class proportional to its own weights.
pub fn quantize(model: &FloatModel) -> QuantizedModel {
    let mut weight = Vec::with_capacity(model.weight().len());
    let mut scale = Vec::with_capacity(model.bias().len());
    for row in model.weight().chunks_exact(PIXELS) {
        let max_abs = row.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        let s = max_abs / 127.0;
        weight.extend(
            row.iter().map(
                |&w| {
                    if s > 0.0 { (w / s).round().clamp(-127.0, 127.0) as i8 } else { 0 }
                },
            ),
        );
        scale.push(s);
    }
    QuantizedModel::new(weight, scale, model.bias().to_vec())
        .expect("quantizing a valid model preserves shapes and finiteness")
}

/// The clipping thresholds tried for each class, as fractions of its `max|w|`. With 16 levels,
/// giving up the few largest weights for finer steps everywhere else often pays.
const CLIP_FRACTIONS: [f32; 11] = [0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95, 1.0];

/// Quantizes each class's weight row to int4 (`-8..=7`, `w ~ q * scale`; the bias stays f32).
/// For each class and each clipping threshold `t` (0.50, 0.55, ..., 1.0 of `max|w|`), the scale
/// is `t / 7` (so `t` is level 7, and the two's-complement extra level -8 holds weights down to
/// `-8t/7`) and the weights are rounded by [`Calibration::round`]; the class keeps the
/// threshold whose weights give the smallest squared error of its logits on the training
/// images. Nothing here sees the test set: `calibration` is made from the training split.
pub fn quantize_int4(model: &FloatModel, calibration: &Calibration) -> Int4Model {
    let mut weight = Vec::with_capacity(model.weight().len());
    let mut scale = Vec::with_capacity(model.bias().len());
    for row in model.weight().chunks_exact(PIXELS) {
        let (q, s) = int4_row(row, calibration);
        weight.extend(q);
        scale.push(s);
    }
    Int4Model::new(weight, scale, model.bias().to_vec())
        .expect("int4 rounding gives weights in -8..=7, and zero weights for a zero scale")
}

/// The int4 weights and scale of one class with the least training logit error.
fn int4_row(row: &[f32], calibration: &Calibration) -> (Vec<i8>, f32) {
    let max_abs = row.iter().fold(0.0f32, |m, w| m.max(w.abs()));
    let candidates = CLIP_FRACTIONS.map(|fraction| {
        let scale = fraction * max_abs / 7.0;
        let q = calibration.round(row, scale);
        let error: Vec<f64> = row
            .iter()
            .zip(&q)
            .map(|(&w, &q)| f64::from(w) - f64::from(q) * f64::from(scale))
            .collect();
        (calibration.logit_error(&error), q, scale)
    });
    let (_, q, scale) = candidates
        .into_iter()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .expect("there are clipping thresholds");
    (q, scale)
}
