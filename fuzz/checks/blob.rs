//! What must hold for any bytes given to infer-core as a blob: decoding never panics, and a
//! model that decodes runs, with the fast kernel equal to the reference bit for bit and
//! predictions that are a class and a probability distribution. The same bytes, read as the
//! parameters of a model of any shape, are also encoded into a valid blob and checked, with
//! int8 and int4 logits against an exact i64 reference.
//!
//! Shared, by `#[path]`, by the fuzz target `fuzz/fuzz_targets/blob.rs` and by the replay test
//! `infer-core/tests/fuzz_replay.rs`, so both run exactly these checks.

use crc::{CRC_32_ISO_HDLC, Crc};
use infer_core::blob::{Blob, FORMAT_VERSION, OLDEST_FORMAT_VERSION, Params, encode};
use infer_core::{Error, MAX_CLASSES, MAX_INPUTS, Model, Scheme, softmax};

/// Checks `data` as it is, with its last four bytes replaced by the CRC-32 of the rest (so that
/// mutated blobs get past the checksum and reach the shape and value checks), and as the
/// parameters of a model (see [`check_params`]).
pub fn check(data: &[u8]) {
    check_bytes(data);
    if let Some(body) = data.len().checked_sub(4) {
        let crc = Crc::<u32>::new(&CRC_32_ISO_HDLC).checksum(&data[..body]).to_le_bytes();
        if data[body..] != crc {
            let mut fixed = data.to_vec();
            fixed[body..].copy_from_slice(&crc);
            check_bytes(&fixed);
        }
    }
    check_params(data);
}

/// Reads `data` as a model: byte 0 picks the scheme (high bit: quantized, then bit 6: int4
/// rather than int8) and the classes (1 to 16, low 4 bits), bytes 1-2 the inputs (1 to 2,048,
/// both sides of the host kernel's limit of 1,024, or, quantized only, `MAX_INPUTS` for
/// `FF FF`: the largest integer sums), with fewer classes when the weights would pass 2 Ki
/// values, to keep runs fast; the rest, repeated, gives the weights (int4: each byte's high
/// nibble), scales and biases (non-finite values become `f32::MAX`, scales their absolute
/// value, 0 only for a row of zeros). Encodes it, which must succeed, and checks the blob;
/// quantized logits must equal the documented formula computed with an i64 sum.
fn check_params(data: &[u8]) {
    let Some((&[head, low, high], rest)) = data.split_first_chunk::<3>() else { return };
    let (quantized, int4) = (head & 0x80 != 0, head & 0xC0 == 0xC0);
    let inputs = match u16::from_le_bytes([low, high]) {
        u16::MAX if quantized => MAX_INPUTS,
        n => usize::from(n) % 2048 + 1,
    };
    let classes = (usize::from(head & 0x7F) % MAX_CLASSES + 1).min(2048 / inputs).max(1);
    let bytes = |n: usize| -> Vec<u8> {
        let mut bytes = if rest.is_empty() { vec![0; n] } else { rest.repeat(n / rest.len() + 1) };
        bytes.truncate(n);
        bytes
    };
    let floats = |n: usize| -> Vec<f32> {
        let finite = |v: f32| if v.is_finite() { v } else { f32::MAX };
        bytes(4 * n)
            .chunks_exact(4)
            .map(|b| finite(f32::from_le_bytes(b.try_into().unwrap())))
            .collect()
    };
    let bias = floats(classes);
    // Decoding a blob computes its CRC-32 bit by bit, the slowest step under the fuzzer's
    // instrumentation: these blobs are decoded once (`encode` checks its output) and then run;
    // the raw bytes above exercise the decoding.
    if !quantized {
        let weights = floats(classes * inputs);
        let blob = encode(&Params::F32 { inputs, classes, weights: &weights, bias: &bias });
        let blob = blob.expect("finite parameters encode");
        check_model(&Model::from_blob(&blob).unwrap(), rest);
        return;
    }
    let shift = if int4 { 4 } else { 0 };
    let weights: Vec<i8> = bytes(classes * inputs).into_iter().map(|b| b as i8 >> shift).collect();
    let mut scales: Vec<f32> = floats(classes).into_iter().map(f32::abs).collect();
    for (scale, row) in scales.iter_mut().zip(weights.chunks(inputs)) {
        if int4 && *scale == 0.0 && row.iter().any(|&w| w != 0) {
            *scale = f32::MIN_POSITIVE;
        }
    }
    let (weights, scales) = (&weights[..], &scales[..]);
    let params = if int4 {
        Params::Int4 { inputs, classes, weights, scales, bias: &bias }
    } else {
        Params::Int8 { inputs, classes, weights, scales, bias: &bias }
    };
    let blob = encode(&params).expect("finite parameters encode");
    let model = Model::from_blob(&blob).unwrap();
    check_model(&model, rest);
    let image: Vec<u8> = bytes(inputs).into_iter().rev().collect();
    for image in [vec![255; inputs], image] {
        let expected: Vec<f32> = (0..classes)
            .map(|c| {
                let row = &weights[c * inputs..][..inputs];
                let dot: i64 =
                    row.iter().zip(&image).map(|(&w, &p)| i64::from(w) * i64::from(p)).sum();
                let dot = i32::try_from(dot).expect("MAX_INPUTS keeps the sum in an i32");
                dot as f32 * (scales[c] / 255.0) + bias[c]
            })
            .collect();
        assert_eq!(bits(&model.logits(&image).unwrap()), bits(&expected), "int4: {int4}");
    }
}

fn check_bytes(data: &[u8]) {
    let blob = Model::from_blob(data);
    let region = Model::from_region(data);
    match (&blob, &region) {
        (Ok(blob), Ok(region)) => assert_same(blob, region),
        // A blob is the region's prefix: they fail alike, or only the blob for what follows.
        (Err(Error::TrailingBytes), Ok(_)) => {}
        (Err(blob), Err(region)) => assert_eq!(blob, region),
        (blob, region) => panic!("from_blob gave {blob:?} but from_region {region:?}"),
    }
    if let Err(error) = &region {
        assert!(!error.to_string().is_empty());
    }
    if let Ok(model) = &region {
        check_model(model, data);
    }
    if let Ok(model) = &blob {
        let view = Blob::parse(data).expect("the blob a model came from");
        assert!((OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&view.version()));
        let shape = (view.inputs(), view.classes(), view.scheme());
        assert_eq!(shape, (model.inputs(), model.classes(), model.scheme()));
        // Erased flash after the blob: the same model from the region.
        let mut padded = data.to_vec();
        padded.extend_from_slice(&[0xFF; 8]);
        assert_same(model, &Model::from_region(&padded).expect("a valid blob in a region"));
    }
}

/// Same shape and scheme, same logits on the same image.
fn assert_same(a: &Model<'_>, b: &Model<'_>) {
    assert_eq!((a.inputs(), a.classes(), a.scheme()), (b.inputs(), b.classes(), b.scheme()));
    let image = vec![255; a.inputs()];
    assert_eq!(bits(&a.logits(&image).unwrap()), bits(&b.logits(&image).unwrap()));
}

fn check_model(model: &Model<'_>, data: &[u8]) {
    let (inputs, classes) = (model.inputs(), model.classes());
    assert!((1..=MAX_INPUTS).contains(&inputs) && (1..=MAX_CLASSES).contains(&classes));

    // Blank, saturated (the extremes of the i32 sums) and the fuzz bytes themselves.
    // `data` may be empty (a parameters-only input): zeros then.
    let cycled = data.iter().rev().copied().cycle().chain(std::iter::repeat(0));
    let from_data: Vec<u8> = cycled.take(inputs).collect();
    for image in [vec![0; inputs], vec![255; inputs], from_data] {
        check_image(model, &image);
    }
    for wrong in [inputs - 1, inputs + 1] {
        let error = Error::InputLength { expected: inputs, found: wrong };
        let image = vec![0; wrong];
        assert_eq!(model.logits(&image), Err(error));
        assert_eq!(model.logits_portable(&image), Err(error));
        assert_eq!(model.classify(&image), Err(error));
        assert_eq!(model.predict(&image), Err(error));
    }
}

fn check_image(model: &Model<'_>, image: &[u8]) {
    let logits = model.logits(image).expect("an image of the model's size");
    assert_eq!(logits.len(), model.classes());
    let portable = model.logits_portable(image).unwrap();
    assert_eq!(bits(&logits), bits(&portable), "fast kernel differs from the portable one");

    let normalized: Vec<f32> = image.iter().map(|&p| infer_core::normalize_pixel(p)).collect();
    match model.scheme() {
        Scheme::F32 => {
            let from_normalized = model.logits_normalized(&normalized).unwrap();
            assert_eq!(bits(&from_normalized), bits(&logits));
        }
        _ => {
            // Integer sums, finite scales and biases: a logit may overflow, never be NaN.
            assert!(!logits.iter().any(|l| l.is_nan()), "quantized logits {logits:?}");
            assert_eq!(model.logits_normalized(&normalized), Err(Error::SchemeMismatch));
        }
    }

    let classify = model.classify(image);
    let predict = model.predict(image);
    if logits.iter().any(|l| l.is_nan()) {
        // f32 weights of opposite infinite partial sums: no class is defined.
        assert_eq!((classify, predict), (Err(Error::InvalidLogits), Err(Error::InvalidLogits)));
        return;
    }
    let prediction = predict.expect("logits without NaN have a prediction");
    let class = prediction.class;
    assert_eq!(classify, Ok(class));
    assert_eq!(softmax::argmax(&logits), Ok(class));
    assert!(class < model.classes());
    assert_eq!(bits(&prediction.logits), bits(&logits));
    // The first of the largest logits.
    assert!(logits[..class].iter().all(|&l| l < logits[class]));
    assert!(logits[class..].iter().all(|&l| l <= logits[class]));

    let p = &prediction.probabilities;
    assert_eq!(p.len(), model.classes());
    assert!(p.iter().all(|p| p.is_finite() && (0.0..=1.0).contains(p)), "{p:?} from {logits:?}");
    let sum: f32 = p.iter().sum();
    assert!((sum - 1.0).abs() < 1e-5, "probabilities sum to {sum}: {p:?} from {logits:?}");
    assert!(p.iter().all(|&q| q <= p[class]), "{p:?} from {logits:?}");
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}
