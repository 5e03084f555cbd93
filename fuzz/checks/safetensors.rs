//! What must hold for any bytes given to the trainer as a model file: a typed error, or a valid
//! model that survives a safetensors round trip and becomes a device blob that infer-core
//! accepts.
//!
//! Shared, by `#[path]`, by the fuzz target `fuzz/fuzz_targets/safetensors.rs` and by the
//! replay test `trainer/tests/fuzz_replay.rs`, so both run exactly these checks.

use std::path::Path;
use std::sync::OnceLock;

use infer_core::{Model, Scheme};
use trainer::calibration::Calibration;
use trainer::data::{CLASSES, PIXELS, Split};
use trainer::model::{FloatModel, Int4Model, QuantizedModel};
use trainer::model_file::ModelFile;
use trainer::quantize::{quantize, quantize_int4};
use trainer::safetensors_file::{self as file, Metadata};
use trainer::torch_file;

/// Checks `data` through every entry point that reads safetensors, and the blobs made of any
/// model it holds.
pub fn check(data: &[u8]) {
    let path = Path::new("fuzz.safetensors");
    let metadata = file::metadata(path, data);
    let tensors = file::tensors(path, data);
    if let Ok(tensors) = &tensors {
        assert!(tensors.is_sorted());
        assert!(metadata.is_ok(), "tensors read but not metadata: {metadata:?}");
    }
    let float = file::parse_float(path, data);
    let int8 = file::parse_int8(path, data);
    let int4 = file::parse_int4(path, data);
    let errors = [float.as_ref().err(), int8.as_ref().err(), int4.as_ref().err()];
    for error in errors.into_iter().chain([tensors.as_ref().err()]) {
        assert!(error.is_none_or(|e| e.to_string().starts_with("fuzz.safetensors")));
    }
    if let Ok((model, meta)) = &float {
        assert_eq!(Some(meta), metadata.as_ref().ok());
        check_float(model, meta);
    }
    if let Ok((model, meta)) = &int8 {
        assert_eq!(Some(meta), metadata.as_ref().ok());
        check_int8(model, meta);
    }
    if let Ok((model, meta)) = &int4 {
        assert_eq!(Some(meta), metadata.as_ref().ok());
        assert!(int8.is_err(), "an int4 file is refused by the int8 reader");
        check_int4(model, meta);
    }

    // Told apart by content: what the specific readers give, or an error when both fail.
    let file = ModelFile::parse(path, data);
    match &file {
        Ok(ModelFile::Blob(bytes)) => assert!(bytes == data && bytes.starts_with(b"ICBL")),
        Ok(ModelFile::Signed(bytes)) => assert!(bytes == data && bytes.starts_with(b"ICSG")),
        Ok(ModelFile::Float(model, meta)) => {
            let (m, md) = float.as_ref().expect("parse_float reads what ModelFile reads");
            assert_eq!((m, md), (model, meta));
        }
        Ok(ModelFile::Int8(model, meta)) => {
            let (m, md) = int8.as_ref().expect("parse_int8 reads what ModelFile reads");
            assert_eq!((m, md), (model, meta));
        }
        Ok(ModelFile::Int4(model, meta)) => {
            let (m, md) = int4.as_ref().expect("parse_int4 reads what ModelFile reads");
            assert_eq!((m, md), (model, meta));
        }
        // A PyTorch file's float model, read only by the build with candle.
        Ok(ModelFile::Torch(model, _)) => {
            assert!(torch_file::is_torch(data), "only PyTorch's magic makes a PyTorch file");
            check_float(model, &Metadata::new());
        }
        // A file marked int4 is read as int4 or not at all; others as float or int8.
        Err(error) if metadata.as_ref().is_ok_and(file::is_int4) => {
            assert!(int4.is_err(), "ModelFile::parse failed: {error}");
        }
        Err(error) => {
            assert!(float.is_err() && int8.is_err(), "ModelFile::parse failed: {error}");
        }
    }
    if let Ok(file) = &file {
        let blob = file.device_blob();
        match file {
            ModelFile::Blob(bytes) => assert_eq!(blob.as_ref(), Ok(bytes)),
            // The blob inside an envelope, or a typed error; the blob itself may be invalid.
            ModelFile::Signed(_) => {
                if let Ok(inner) = &blob {
                    let _ = Model::from_blob(inner);
                }
            }
            _ => {
                let blob = blob.expect("a valid model makes a blob");
                assert!(Model::from_blob(&blob).is_ok());
            }
        }
    }
}

/// A float model: valid, round-trips through safetensors, and makes an f32 blob and (quantized)
/// int8 and int4 blobs that infer-core accepts.
fn check_float(model: &FloatModel, meta: &Metadata) {
    assert_eq!((model.weight().len(), model.bias().len()), (CLASSES * PIXELS, CLASSES));
    assert!(model.weight().iter().chain(model.bias()).all(|v| v.is_finite()));
    let bytes = file::float_safetensors(model, meta).expect("a valid model serializes");
    let (again, meta_again) = file::parse_float(Path::new("again"), &bytes).unwrap();
    assert_eq!((&again, &meta_again), (model, meta));
    check_blob(&model.to_blob(), Scheme::F32, model.bias());
    check_int8(&quantize(model), meta);
    check_int4(&quantize_int4(model, calibration()), meta);
}

/// A calibration without images (plain rounding), made once: what int4 quantization of any
/// weights must survive.
fn calibration() -> &'static Calibration {
    static CALIBRATION: OnceLock<Calibration> = OnceLock::new();
    CALIBRATION
        .get_or_init(|| Calibration::from_training(&Split { images: vec![], labels: vec![] }))
}

/// An int4 model: weights in -8..=7, round-trips through safetensors, makes an int4 blob.
fn check_int4(model: &Int4Model, meta: &Metadata) {
    assert!(model.weight().iter().all(|w| Int4Model::RANGE.contains(w)));
    let bytes = file::int4_safetensors(model, meta).expect("a valid model serializes");
    let (again, meta_again) = file::parse_int4(Path::new("again"), &bytes).unwrap();
    let mut marked = meta.clone();
    marked.insert(file::WEIGHT_BITS.into(), file::INT4_BITS.into());
    assert_eq!((&again, &meta_again), (model, &marked));
    check_blob(&model.to_blob(), Scheme::Int4, model.bias());
}

/// An int8 model: valid, round-trips through safetensors, makes an int8 blob.
fn check_int8(model: &QuantizedModel, meta: &Metadata) {
    assert_eq!(model.weight().len(), CLASSES * PIXELS);
    assert_eq!((model.scale().len(), model.bias().len()), (CLASSES, CLASSES));
    assert!(model.scale().iter().all(|s| s.is_finite() && *s >= 0.0));
    assert!(model.bias().iter().all(|b| b.is_finite()));
    let bytes = file::int8_safetensors(model, meta).expect("a valid model serializes");
    let (again, meta_again) = file::parse_int8(Path::new("again"), &bytes).unwrap();
    assert_eq!((&again, &meta_again), (model, meta));
    check_blob(&model.to_blob(), Scheme::Int8, model.bias());
}

/// The blob decodes with the model's shape and scheme, and a blank image gets the biases.
fn check_blob(blob: &Result<Vec<u8>, infer_core::Error>, scheme: Scheme, bias: &[f32]) {
    let blob = blob.as_ref().expect("a valid model makes a blob");
    let model = Model::from_blob(blob).expect("infer-core accepts the trainer's blob");
    assert_eq!((model.inputs(), model.classes(), model.scheme()), (PIXELS, CLASSES, scheme));
    let prediction = model.predict(&[0; PIXELS]).expect("finite biases give a prediction");
    // `==`, not bits: a -0.0 bias plus a +0.0 dot product is +0.0.
    assert_eq!(prediction.logits.as_slice(), bias);
}
