//! Properties of inference and softmax over arbitrary inputs.

use infer_core::blob::{Params, encode};
use infer_core::softmax::{argmax, softmax};
use infer_core::{Error, MAX_CLASSES, Model};
use proptest::prelude::*;

fn logit_value() -> impl Strategy<Value = f32> {
    prop_oneof![
        -1e30f32..1e30,
        -100f32..100.0,
        Just(1e30),
        Just(-1e30),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
        Just(0.0),
    ]
}

proptest! {
    #[test]
    fn softmax_is_a_distribution(logits in prop::collection::vec(logit_value(), 1..=MAX_CLASSES)) {
        let p = softmax(&logits).unwrap();
        prop_assert_eq!(p.len(), logits.len());
        prop_assert!(p.iter().all(|&x| x.is_finite() && (0.0..=1.0).contains(&x)));
        prop_assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        // The most probable class is the arg max of the logits.
        let best = argmax(&logits).unwrap();
        prop_assert!(p.iter().all(|&x| x <= p[best]));
    }

    #[test]
    fn nan_anywhere_is_an_error(mut logits in prop::collection::vec(logit_value(), 1..=MAX_CLASSES), at in 0usize..MAX_CLASSES) {
        let at = at % logits.len();
        logits[at] = f32::NAN;
        prop_assert_eq!(softmax(&logits).unwrap_err(), Error::InvalidLogits);
        prop_assert_eq!(argmax(&logits).unwrap_err(), Error::InvalidLogits);
    }

    #[test]
    fn argmax_ties_go_to_the_lowest_index(len in 1usize..=MAX_CLASSES, value in logit_value()) {
        prop_assert_eq!(argmax(&vec![value; len]).unwrap(), 0);
        let mut logits = vec![-1.0; len];
        logits.push(5.0);
        logits.push(5.0);
        prop_assert_eq!(argmax(&logits).unwrap(), len);
    }

    /// The i32 accumulation equals an i64 reference for any weights and pixels, int8 and int4.
    #[test]
    fn quantized_logits_are_exact(
        int4 in any::<bool>(),
        weights in prop::collection::vec(any::<i8>(), 3 * 51),
        pixels in prop::collection::vec(any::<u8>(), 51),
        scales in prop::collection::vec(0.001f32..1.0, 3),
        bias in prop::collection::vec(-10f32..10.0, 3),
    ) {
        let weights = in_range(weights, int4);
        let blob = quantized(int4, 51, 3, &weights, &scales, &bias);
        let model = Model::from_blob(&blob).unwrap();
        let logits = model.logits(&pixels).unwrap();
        for c in 0..3 {
            let acc: i64 = weights[c * 51..][..51].iter().zip(&pixels).map(|(&w, &p)| i64::from(w) * i64::from(p)).sum();
            let expected = acc as f32 * (scales[c] / 255.0) + bias[c];
            prop_assert_eq!(logits[c].to_bits(), expected.to_bits());
        }
        let prediction = model.predict(&pixels).unwrap();
        prop_assert_eq!(prediction.class, argmax(&logits).unwrap());
        prop_assert_eq!(model.classify(&pixels).unwrap(), prediction.class);
    }

    /// The target's fast kernel equals the portable reference bit for bit, for shapes with and
    /// without a tail and past the widened-pixel limit.
    #[test]
    fn fast_kernel_equals_the_reference(
        int4 in any::<bool>(),
        inputs in prop_oneof![1usize..40, Just(784), Just(785), Just(1030)],
        classes in 1usize..=MAX_CLASSES,
        seed in any::<u64>(),
    ) {
        let mut state = seed | 1;
        let mut next = move || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
        let weights = in_range((0..inputs * classes).map(|_| next() as i8).collect(), int4);
        let pixels: Vec<u8> = (0..inputs).map(|_| next() as u8).collect();
        let blob = quantized(int4, inputs, classes, &weights, &vec![0.01; classes], &vec![0.5; classes]);
        let model = Model::from_blob(&blob).unwrap();
        prop_assert_eq!(model.logits(&pixels).unwrap(), model.logits_portable(&pixels).unwrap());
    }

    /// `logits_batch` gives `logits` of every image, bit for bit and in order, for every scheme,
    /// any number of images (whole groups of four and a rest), and shapes with and without a
    /// tail or past the stack buffers.
    #[test]
    fn batch_logits_equal_one_image_at_a_time(
        scheme in 0u8..3,
        inputs in prop_oneof![1usize..40, Just(784), Just(1030)],
        classes in 1usize..=MAX_CLASSES,
        images in 0usize..11,
        seed in any::<u64>(),
    ) {
        let mut state = seed | 1;
        let mut next = move || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
        let weights: Vec<i8> = (0..inputs * classes).map(|_| next() as i8).collect();
        let (scales, bias) = (vec![0.01; classes], vec![0.5; classes]);
        let blob = match scheme {
            0 => {
                let weights: Vec<f32> = weights.iter().map(|&w| f32::from(w) / 64.0).collect();
                encode(&Params::F32 { inputs, classes, weights: &weights, bias: &bias }).unwrap()
            }
            _ => quantized(scheme == 2, inputs, classes, &in_range(weights, scheme == 2), &scales, &bias),
        };
        let model = Model::from_blob(&blob).unwrap();
        let pixels: Vec<u8> = (0..inputs * images).map(|_| next() as u8).collect();
        let batch: Vec<_> = model.logits_batch(&pixels).unwrap().collect();
        let one: Vec<_> = pixels.chunks_exact(inputs).map(|image| model.logits(image).unwrap()).collect();
        let bits = |all: &[infer_core::PerClass]| all.iter().flatten().map(|l| l.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(batch.len(), images);
        prop_assert_eq!(bits(&batch), bits(&one));
    }

    /// Decoding never panics: random bytes, and valid blobs with random bytes overwritten.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Model::from_blob(&bytes);
        let mut prefixed = b"ICBL\x01".to_vec();
        prefixed.extend_from_slice(&bytes);
        let _ = Model::from_blob(&prefixed);
    }

    #[test]
    fn damaged_valid_blobs_are_rejected(at in 0usize..1000, value in any::<u8>()) {
        let blob = encode(&Params::Int8 { inputs: 10, classes: 4, weights: &[3; 40], scales: &[0.1; 4], bias: &[0.0; 4] }).unwrap();
        let mut bad = blob.clone();
        let at = at % bad.len();
        prop_assume!(bad[at] != value);
        bad[at] = value;
        prop_assert!(Model::from_blob(&bad).is_err());
    }
}

/// `weights` as int4 values (-8..=7) if `int4`, else as they are.
fn in_range(weights: Vec<i8>, int4: bool) -> Vec<i8> {
    if int4 { weights.into_iter().map(|w| w >> 4).collect() } else { weights }
}

/// An int4 or int8 blob.
fn quantized(
    int4: bool,
    inputs: usize,
    classes: usize,
    weights: &[i8],
    scales: &[f32],
    bias: &[f32],
) -> Vec<u8> {
    let params = if int4 {
        Params::Int4 { inputs, classes, weights, scales, bias }
    } else {
        Params::Int8 { inputs, classes, weights, scales, bias }
    };
    encode(&params).unwrap()
}

/// A batch that is not a whole number of images is refused before anything is computed.
#[test]
fn a_partial_image_in_a_batch_is_an_input_length_error() {
    let blob = quantized(false, 10, 3, &[1; 30], &[0.1; 3], &[0.0; 3]);
    let model = Model::from_blob(&blob).unwrap();
    let error = model.logits_batch(&[0; 25]).err();
    assert_eq!(error, Some(Error::InputLength { expected: 10, found: 5 }));
    assert_eq!(model.logits_batch(&[]).unwrap().count(), 0);
}

/// int8 `classify` picks its class as the logits are computed, without `argmax`: it must agree
/// with it on ties (the lowest class) and on logits that overflow to infinity.
#[test]
fn int8_classify_agrees_with_argmax_on_ties_and_infinities() {
    let pixels = [255; 4];
    let cases: [(&[i8], &[f32], &[f32]); 4] = [
        (&[1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2], &[0.5; 3], &[0.0; 3]), // classes 1 and 2 tie
        (&[0; 12], &[1.0; 3], &[-1.0, 2.0, 2.0]),                      // bias alone, tied
        (&[-1; 12], &[f32::MAX; 3], &[0.0; 3]),                        // all -inf
        (&[-1, -1, -1, -1, 1, 1, 1, 1, 1, 1, 1, 1], &[f32::MAX; 3], &[0.0; 3]), // -inf, +inf, +inf
    ];
    for (weights, scales, bias) in cases {
        let params = Params::Int8 { inputs: 4, classes: 3, weights, scales, bias };
        let blob = encode(&params).unwrap();
        let model = Model::from_blob(&blob).unwrap();
        let logits = model.logits(&pixels).unwrap();
        assert_eq!(model.classify(&pixels), argmax(&logits), "logits {logits:?}");
        assert_eq!(model.classify(&pixels), Ok(model.predict(&pixels).unwrap().class));
    }
}

#[test]
fn softmax_limits_are_defined() {
    assert_eq!(softmax(&[f32::INFINITY, 0.0, f32::INFINITY]).unwrap().as_slice(), &[0.5, 0.0, 0.5]);
    assert_eq!(softmax(&[f32::NEG_INFINITY; 4]).unwrap().as_slice(), &[0.25; 4]);
    assert_eq!(softmax(&[]).unwrap_err(), Error::InvalidLogits);
    assert!(matches!(softmax(&[0.0; MAX_CLASSES + 1]).unwrap_err(), Error::InputLength { .. }));
}
