//! The model's parameters on the host, under the names of the tutorial's PyTorch model.

use infer_core::blob::{self, Params};

use crate::data::{CLASSES, PIXELS};

/// `LogisticRegressionModel.linear.weight`: f32 `[10, 784]`, or i8 in the int8 and int4 files.
pub const WEIGHT: &str = "linear.weight";
/// `LogisticRegressionModel.linear.bias`: f32 `[10]`.
pub const BIAS: &str = "linear.bias";
/// int8 and int4 files only: f32 `[10]`, dequantized weight = weight x weight_scale of its class.
pub const WEIGHT_SCALE: &str = "linear.weight_scale";

/// Why parameters cannot form a model.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum ModelError {
    /// A tensor has the wrong number of elements.
    #[error("{name} has {found} values, expected {expected}")]
    Shape {
        /// Tensor name.
        name: &'static str,
        /// Values expected.
        expected: usize,
        /// Values present.
        found: usize,
    },
    /// A value is NaN or infinite (or a scale negative): the training diverged or the file is corrupt.
    #[error("{name} holds NaN, infinite or (scales) negative values")]
    NotFinite {
        /// Tensor name.
        name: &'static str,
    },
    /// An int4 weight is outside `-8..=7`.
    #[error("{name} holds {value} at index {index}, outside the int4 range -8..=7")]
    OutOfRange {
        /// Tensor name.
        name: &'static str,
        /// Position of the value, row-major.
        index: usize,
        /// The value found.
        value: i8,
    },
    /// An int4 class has a zero scale but non-zero weights: devices refuse such blobs, as a
    /// zero scale is kept for all-zero rows so that every model has one encoding.
    #[error("{WEIGHT_SCALE} of class {class} is 0 but its weights are not all 0")]
    ZeroScale {
        /// The class.
        class: usize,
    },
}

fn check(name: &'static str, values: &[f32], expected: usize) -> Result<(), ModelError> {
    if values.len() != expected {
        return Err(ModelError::Shape { name, expected, found: values.len() });
    }
    if !values.iter().all(|v| v.is_finite()) {
        return Err(ModelError::NotFinite { name });
    }
    Ok(())
}

/// A float 784 -> 10 linear layer.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatModel {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl FloatModel {
    /// Validates shapes (`[10][784]` row-major, `[10]`) and finiteness.
    pub fn new(weight: Vec<f32>, bias: Vec<f32>) -> Result<Self, ModelError> {
        check(WEIGHT, &weight, CLASSES * PIXELS)?;
        check(BIAS, &bias, CLASSES)?;
        Ok(Self { weight, bias })
    }

    /// Weights, `[class][pixel]`.
    pub fn weight(&self) -> &[f32] {
        &self.weight
    }

    /// Biases, one per class.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// The f32 device blob.
    pub fn to_blob(&self) -> Result<Vec<u8>, infer_core::Error> {
        blob::encode(&Params::F32 {
            inputs: PIXELS,
            classes: CLASSES,
            weights: &self.weight,
            bias: &self.bias,
        })
    }
}

/// The int8 model: symmetric per-class quantization of [`FloatModel`]'s weights.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedModel {
    weight: Vec<i8>,
    scale: Vec<f32>,
    bias: Vec<f32>,
}

impl QuantizedModel {
    /// Validates shapes and that scales and biases are finite (and scales non-negative).
    pub fn new(weight: Vec<i8>, scale: Vec<f32>, bias: Vec<f32>) -> Result<Self, ModelError> {
        if weight.len() != CLASSES * PIXELS {
            return Err(ModelError::Shape {
                name: WEIGHT,
                expected: CLASSES * PIXELS,
                found: weight.len(),
            });
        }
        check(WEIGHT_SCALE, &scale, CLASSES)?;
        if scale.iter().any(|&s| s < 0.0) {
            return Err(ModelError::NotFinite { name: WEIGHT_SCALE });
        }
        check(BIAS, &bias, CLASSES)?;
        Ok(Self { weight, scale, bias })
    }

    /// Quantized weights, `[class][pixel]`.
    pub fn weight(&self) -> &[i8] {
        &self.weight
    }

    /// One scale per class.
    pub fn scale(&self) -> &[f32] {
        &self.scale
    }

    /// Biases, one per class.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// The int8 device blob.
    pub fn to_blob(&self) -> Result<Vec<u8>, infer_core::Error> {
        blob::encode(&Params::Int8 {
            inputs: PIXELS,
            classes: CLASSES,
            weights: &self.weight,
            scales: &self.scale,
            bias: &self.bias,
        })
    }
}

/// The int4 model: [`QuantizedModel`]'s layout with weights in `-8..=7`, one per `i8` here and
/// in the int4 safetensors (so numpy and PyTorch read them as they are), two per byte in the
/// blob.
#[derive(Debug, Clone, PartialEq)]
pub struct Int4Model(QuantizedModel);

impl Int4Model {
    /// The range of an int4 weight.
    pub const RANGE: std::ops::RangeInclusive<i8> = -8..=7;

    /// Validates as [`QuantizedModel::new`] does, then as [`Int4Model::try_from`] does.
    pub fn new(weight: Vec<i8>, scale: Vec<f32>, bias: Vec<f32>) -> Result<Self, ModelError> {
        Self::try_from(QuantizedModel::new(weight, scale, bias)?)
    }

    /// Quantized weights in `-8..=7`, `[class][pixel]`.
    pub fn weight(&self) -> &[i8] {
        self.0.weight()
    }

    /// One scale per class.
    pub fn scale(&self) -> &[f32] {
        self.0.scale()
    }

    /// Biases, one per class.
    pub fn bias(&self) -> &[f32] {
        self.0.bias()
    }

    /// The int4 device blob.
    pub fn to_blob(&self) -> Result<Vec<u8>, infer_core::Error> {
        blob::encode(&Params::Int4 {
            inputs: PIXELS,
            classes: CLASSES,
            weights: self.weight(),
            scales: self.scale(),
            bias: self.bias(),
        })
    }
}

impl TryFrom<QuantizedModel> for Int4Model {
    type Error = ModelError;

    /// Checks that every weight is in [`Int4Model::RANGE`] and that a zero scale has only zero
    /// weights: all that a device checks of an int4 blob beyond what an int8 one must pass.
    fn try_from(model: QuantizedModel) -> Result<Self, ModelError> {
        if let Some((index, &value)) =
            model.weight.iter().enumerate().find(|(_, w)| !Self::RANGE.contains(w))
        {
            return Err(ModelError::OutOfRange { name: WEIGHT, index, value });
        }
        let mut rows = model.weight.chunks_exact(PIXELS).zip(&model.scale);
        if let Some(class) = rows.position(|(row, &s)| s == 0.0 && row.iter().any(|&w| w != 0)) {
            return Err(ModelError::ZeroScale { class });
        }
        Ok(Self(model))
    }
}
