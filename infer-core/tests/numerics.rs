//! Numerical edges with defined results: NaN and infinite inputs, blank and saturated images,
//! logits of +-1e30 and logits that overflow.

use infer_core::blob::{Params, encode};
use infer_core::{Error, Model};
use proptest::prelude::*;

const INPUTS: usize = 784;
const CLASSES: usize = 10;

fn f32_model(weights: &[f32], bias: &[f32]) -> Vec<u8> {
    encode(&Params::F32 { inputs: INPUTS, classes: CLASSES, weights, bias }).unwrap()
}

/// Weights that vary by class and input, in about +-0.1, as trained ones are.
fn weights() -> Vec<f32> {
    (0..INPUTS * CLASSES).map(|i| ((i * 7919 % 2001) as f32 - 1000.0) * 1e-4).collect()
}

fn bias() -> Vec<f32> {
    (0..CLASSES).map(|c| c as f32 * 0.25 - 1.0).collect()
}

#[test]
fn nan_and_infinite_float_inputs_are_errors() {
    let blob = f32_model(&weights(), &bias());
    let model = Model::from_blob(&blob).unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for at in [0, 400, INPUTS - 1] {
            let mut input = [0.5f32; INPUTS];
            input[at] = bad;
            assert_eq!(model.logits_normalized(&input), Err(Error::InvalidInput), "{bad} at {at}");
        }
    }
    // Finite values outside [0, 1] are computed, not clamped.
    let logits = model.logits_normalized(&[2.0; INPUTS]).unwrap();
    assert!(logits.iter().all(|l| l.is_finite()));
}

#[test]
fn a_blank_image_gives_exactly_the_bias() {
    let blob = f32_model(&weights(), &bias());
    let model = Model::from_blob(&blob).unwrap();
    assert_eq!(model.logits(&[0; INPUTS]).unwrap().as_slice(), bias().as_slice());
    assert_eq!(model.logits_normalized(&[0.0; INPUTS]).unwrap().as_slice(), bias().as_slice());

    let int8: Vec<i8> = weights().iter().map(|w| (w * 1000.0) as i8).collect();
    let scales = [0.001; CLASSES];
    let params =
        Params::Int8 { inputs: 784, classes: 10, weights: &int8, scales: &scales, bias: &bias() };
    let blob = encode(&params).unwrap();
    let model = Model::from_blob(&blob).unwrap();
    assert_eq!(model.logits(&[0; INPUTS]).unwrap().as_slice(), bias().as_slice());
}

#[test]
fn a_saturated_image_gives_the_bias_plus_each_row_sum() {
    let (weights, bias) = (weights(), bias());
    let blob = f32_model(&weights, &bias);
    let model = Model::from_blob(&blob).unwrap();
    let logits = model.logits(&[255; INPUTS]).unwrap();
    for (c, logit) in logits.iter().enumerate() {
        let exact: f64 = f64::from(bias[c])
            + weights[c * INPUTS..][..INPUTS].iter().map(|&w| f64::from(w)).sum::<f64>();
        assert!((f64::from(*logit) - exact).abs() < 1e-4, "class {c}: {logit} vs {exact}");
    }
    assert_eq!(
        model.logits_normalized(&[1.0; INPUTS]).unwrap(),
        logits,
        "255 normalizes to exactly 1.0"
    );
    let prediction = model.predict(&[255; INPUTS]).unwrap();
    assert!((prediction.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-6);
}

#[test]
fn logits_of_plus_minus_1e30_give_exact_finite_probabilities() {
    let mut bias = [0.0; CLASSES];
    (bias[3], bias[7]) = (1e30, -1e30);
    let blob = f32_model(&[0.0; INPUTS * CLASSES], &bias);
    let prediction = Model::from_blob(&blob).unwrap().predict(&[128; INPUTS]).unwrap();
    assert_eq!(prediction.class, 3);
    assert_eq!(prediction.logits.as_slice(), &bias);
    let mut expected = [0.0; CLASSES];
    expected[3] = 1.0;
    assert_eq!(prediction.probabilities.as_slice(), &expected);
}

#[test]
fn overflowing_logits_take_their_limits_and_nan_logits_are_an_error() {
    let mut weights = vec![0.0; INPUTS * CLASSES];
    weights[..INPUTS].fill(3e38); // class 0: the dot product overflows to +inf
    weights[INPUTS..2 * INPUTS].fill(-3e38); // class 1: to -inf
    let blob = f32_model(&weights, &[0.0; CLASSES]);
    let model = Model::from_blob(&blob).unwrap();
    let prediction = model.predict(&[255; INPUTS]).unwrap();
    assert_eq!((prediction.logits[0], prediction.logits[1]), (f32::INFINITY, f32::NEG_INFINITY));
    assert_eq!(prediction.class, 0);
    assert_eq!(prediction.probabilities[0], 1.0);
    assert!(prediction.probabilities[1..].iter().all(|&p| p == 0.0));

    // +inf and -inf in one dot product: NaN, so no class is defined.
    for (i, w) in weights[2 * INPUTS..3 * INPUTS].iter_mut().enumerate() {
        *w = if i % 2 == 0 { 3e38 } else { -3e38 };
    }
    let blob = f32_model(&weights, &[0.0; CLASSES]);
    let model = Model::from_blob(&blob).unwrap();
    assert!(model.logits(&[255; INPUTS]).unwrap()[2].is_nan());
    assert_eq!(model.predict(&[255; INPUTS]), Err(Error::InvalidLogits));
    assert_eq!(model.classify(&[255; INPUTS]), Err(Error::InvalidLogits));
}

proptest! {
    #[test]
    fn any_finite_input_gives_logits_and_normalized_probabilities(
        input in proptest::collection::vec(-1e3f32..1e3, INPUTS),
    ) {
        let blob = f32_model(&weights(), &bias());
        let model = Model::from_blob(&blob).unwrap();
        let logits = model.logits_normalized(&input).unwrap();
        let probabilities = infer_core::softmax::softmax(&logits).unwrap();
        prop_assert!(probabilities.iter().all(|p| p.is_finite() && *p >= 0.0));
        prop_assert!((probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}
