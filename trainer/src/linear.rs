//! The 784 -> 10 layer as training computes it, on candle tensors (CPU or CUDA).
//!
//! The weight and the bias are packed in one `[10, 785]` tensor, the bias as its last column,
//! and every input row ends with a constant 1: the logits are one matrix product, the gradient
//! another, and each update runs once over all parameters.
//!
//! The gradient is the closed form of softmax cross-entropy, `(softmax(X P^T) - Y)^T X / B` for
//! a batch `X` of `B` rows with one-hot labels `Y`, so no autograd graph is built.

use candle_core::{DType, Tensor};

use crate::data::PIXELS;

/// Columns of the packed parameters and of an input row: the pixels, then the constant 1.
pub const INPUTS: usize = PIXELS + 1;

/// `[class][pixel]` weights and per-class biases as packed `[class][INPUTS]` values.
pub fn pack(weight: &[f32], bias: &[f32]) -> Vec<f32> {
    weight
        .chunks_exact(PIXELS)
        .zip(bias)
        .flat_map(|(row, &b)| row.iter().copied().chain([b]))
        .collect()
}

/// Packed `[class][INPUTS]` values as the `[class][pixel]` weights and the biases.
pub fn unpack(packed: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let rows = packed.chunks_exact(INPUTS);
    let weight = rows.clone().flat_map(|row| &row[..PIXELS]).copied().collect();
    (weight, rows.map(|row| row[PIXELS]).collect())
}

/// A mini-batch on the device.
#[derive(Debug)]
pub struct Batch {
    /// `[B, INPUTS]` normalized pixels, each row ending with 1.
    pub inputs: Tensor,
    /// `[B, CLASSES]` one-hot labels.
    pub targets: Tensor,
    /// `[B, 1]` labels, as u32.
    pub labels: Tensor,
}

/// The batch's mean cross-entropy (a scalar left on the device: reading it would wait for the
/// device) and its gradient with respect to the packed parameters, `[CLASSES, INPUTS]`.
pub fn loss_and_gradient(params: &Tensor, batch: &Batch) -> candle_core::Result<(Tensor, Tensor)> {
    let size = batch.inputs.dim(0)? as f64;
    let probabilities = candle_nn::ops::softmax_last_dim(&logits(params, &batch.inputs)?)?;
    let loss =
        probabilities.gather(&batch.labels, 1)?.log()?.sum_all()?.affine(-1.0 / size, 0.0)?;
    let error = (probabilities - &batch.targets)?.affine(1.0 / size, 0.0)?;
    Ok((loss, error.t()?.matmul(&batch.inputs)?))
}

/// How many examples of the batch have their label as arg-max logit.
pub fn correct(params: &Tensor, batch: &Batch) -> candle_core::Result<usize> {
    let predictions = logits(params, &batch.inputs)?.argmax(1)?;
    let hits = predictions.eq(&batch.labels.flatten_all()?)?.to_dtype(DType::F32)?;
    Ok(hits.sum_all()?.to_scalar::<f32>()? as usize)
}

/// `[N, CLASSES]` logits of `[N, INPUTS]` inputs.
fn logits(params: &Tensor, inputs: &Tensor) -> candle_core::Result<Tensor> {
    inputs.matmul(&params.t()?)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use crate::data::CLASSES;

    use super::*;

    #[test]
    fn pack_and_unpack_are_inverse() {
        let weight: Vec<f32> = (0..CLASSES * PIXELS).map(|i| i as f32).collect();
        let bias: Vec<f32> = (0..CLASSES).map(|c| -(c as f32)).collect();
        let packed = pack(&weight, &bias);
        assert_eq!(packed.len(), CLASSES * INPUTS);
        assert_eq!((packed[PIXELS], packed[INPUTS]), (0.0, PIXELS as f32));
        assert_eq!(unpack(&packed), (weight, bias));
    }

    #[test]
    fn the_closed_form_gradient_is_autograd_s() {
        let device = Device::Cpu;
        let (size, labels) = (3, [7u32, 0, 3]);
        let params = Tensor::randn(0f32, 0.1, (CLASSES, INPUTS), &device).unwrap();
        let mut inputs = Tensor::rand(0f32, 1.0, (size, INPUTS), &device).unwrap();
        inputs = inputs
            .slice_assign(
                &[0..size, PIXELS..INPUTS],
                &Tensor::ones((size, 1), DType::F32, &device).unwrap(),
            )
            .unwrap();
        let one_hot: Vec<f32> = labels
            .iter()
            .flat_map(|&l| (0..CLASSES as u32).map(move |c| f32::from(c == l)))
            .collect();
        let batch = Batch {
            inputs: inputs.clone(),
            targets: Tensor::from_vec(one_hot, (size, CLASSES), &device).unwrap(),
            labels: Tensor::new(&labels, &device).unwrap().unsqueeze(1).unwrap(),
        };
        let (loss, gradient) = loss_and_gradient(&params, &batch).unwrap();

        let var = Var::from_tensor(&params).unwrap();
        let logits = inputs.matmul(&var.as_tensor().t().unwrap()).unwrap();
        let labels = Tensor::new(&labels, &device).unwrap();
        let expected_loss = candle_nn::loss::cross_entropy(&logits, &labels).unwrap();
        let expected = expected_loss.backward().unwrap().remove(&var).unwrap();
        let close = |a: &Tensor, b: &Tensor| {
            let difference = (a - b).unwrap().abs().unwrap().max_all().unwrap();
            difference.to_scalar::<f32>().unwrap()
        };
        assert!(close(&loss, &expected_loss) < 1e-6);
        assert!(close(&gradient, &expected) < 1e-6);
    }
}
