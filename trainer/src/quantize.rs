//! f32 -> int8: symmetric, one scale per output class.

use crate::data::PIXELS;
use crate::model::{FloatModel, QuantizedModel};

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
