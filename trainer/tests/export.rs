//! Model files: round trips, atomic writes, and crafted bad safetensors.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use infer_core::Model;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, serialize};
use trainer::atomic_write::{WriteError, write_atomically};
use trainer::bytes::f32s_to_le;
use trainer::calibration::Calibration;
use trainer::data::{Mnist, PIXELS, Split, bundled_dir};
use trainer::eval::evaluate;
use trainer::model::{FloatModel, Int4Model, ModelError};
use trainer::model_file::ModelFile;
use trainer::quantize::{quantize, quantize_int4};
use trainer::safetensors_file::{self as file, FileError, Metadata};

fn model() -> FloatModel {
    let weight = (0..7840).map(|i| ((i * 37 % 101) as f32 - 50.0) / 1000.0).collect();
    FloatModel::new(weight, (0..10).map(|c| c as f32 / 10.0).collect()).unwrap()
}

/// The MNIST training split, loaded once.
fn training() -> &'static Split {
    static TRAIN: OnceLock<Split> = OnceLock::new();
    TRAIN.get_or_init(|| Mnist::load_training(&bundled_dir()).unwrap())
}

/// The calibration of the MNIST training images, made once.
fn calibration() -> &'static Calibration {
    static CALIBRATION: OnceLock<Calibration> = OnceLock::new();
    CALIBRATION.get_or_init(|| Calibration::from_training(training()))
}

#[test]
fn float_int8_and_int4_files_round_trip_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let metadata = Metadata::from([("float_test_accuracy".to_string(), "92.70".to_string())]);
    let float = model();
    let int8 = quantize(&float);
    let int4 = quantize_int4(&float, calibration());
    let [float_path, int8_path, int4_path] =
        ["m.safetensors", "m.int8.safetensors", "m.int4.safetensors"].map(|n| dir.path().join(n));
    write_atomically(&[
        (float_path.clone(), file::float_safetensors(&float, &metadata).unwrap()),
        (int8_path.clone(), file::int8_safetensors(&int8, &metadata).unwrap()),
        (int4_path.clone(), file::int4_safetensors(&int4, &metadata).unwrap()),
    ])
    .unwrap();
    assert_eq!(file::read_float(&float_path).unwrap(), (float.clone(), metadata.clone()));
    assert_eq!(file::read_int8(&int8_path).unwrap(), (int8.clone(), metadata.clone()));
    let mut marked = metadata.clone();
    marked.insert("weight_bits".into(), "4".into());
    assert_eq!(file::read_int4(&int4_path).unwrap(), (int4.clone(), marked));
    // The marker, not the values, tells int4 from int8: each reader refuses the other's file.
    let error = file::read_int8(&int4_path).unwrap_err();
    assert!(matches!(&error, FileError::WeightBits { found: Some(b), .. } if b == "4"), "{error}");
    let error = file::read_int4(&int8_path).unwrap_err();
    assert!(matches!(error, FileError::WeightBits { found: None, .. }));
    assert!(error.to_string().ends_with("`weight_bits` is absent, expected 4 (an int4 file)"));
    assert!(matches!(ModelFile::open(&int4_path).unwrap(), ModelFile::Int4(m, _) if m == int4));
    assert!(matches!(ModelFile::open(&int8_path).unwrap(), ModelFile::Int8(m, _) if m == int8));
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
    // Dequantized weights are within half a step of the float ones.
    for (c, row) in float.weight().chunks(784).enumerate() {
        let scale = int8.scale()[c];
        for (i, &w) in row.iter().enumerate() {
            assert!(
                (f32::from(int8.weight()[c * 784 + i]) * scale - w).abs() <= scale / 2.0 + 1e-7
            );
        }
    }
}

#[test]
fn the_same_model_and_metadata_give_the_same_bytes_in_key_order() {
    // Enough keys that a hash map's order would differ from run to run.
    let metadata: Metadata = (0..20).map(|i| (format!("key{i:02}"), i.to_string())).collect();
    let bytes = file::float_safetensors(&model(), &metadata).unwrap();
    for _ in 0..5 {
        assert!(file::float_safetensors(&model(), &metadata).unwrap() == bytes);
    }
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(header_len % 8, 0, "tensor data starts 8-byte aligned");
    let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
    assert!(header.starts_with(r#"{"__metadata__":{"key00":"0","key01":"1","key02""#), "{header}");
    // The safetensors crate reads it: tensors and metadata as written.
    let parsed = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(parsed.tensor("linear.bias").unwrap().data(), f32s_to_le(model().bias()));
    assert_eq!(file::metadata(Path::new("m"), &bytes).unwrap(), metadata);
}

#[test]
fn a_failed_write_never_leaves_a_half_written_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("model.safetensors");
    fs::write(&good, b"previous model").unwrap();
    // The second destination is a directory, so its rename fails after the first was staged.
    let blocked = dir.path().join("blocked");
    fs::create_dir(&blocked).unwrap();
    fs::write(blocked.join("keep"), b"x").unwrap();
    let result =
        write_atomically(&[(good.clone(), b"new".to_vec()), (blocked.clone(), b"new".to_vec())]);
    assert!(matches!(result, Err(WriteError { .. })));
    assert_eq!(fs::read(&good).unwrap(), b"new".to_vec(), "renames happen in order");
    // Nothing staged is left over.
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // A write that fails before any rename changes nothing.
    fs::write(&good, b"previous model").unwrap();
    let missing_dir = dir.path().join("no-such-dir").join("file");
    let result =
        write_atomically(&[(missing_dir, b"new".to_vec()), (good.clone(), b"new".to_vec())]);
    assert!(matches!(result, Err(WriteError { .. })));
    assert_eq!(fs::read(&good).unwrap(), b"previous model".to_vec());
}

/// Name, dtype, shape and little-endian data.
type Tensor<'a> = (&'a str, Dtype, Vec<usize>, Vec<u8>);
type Tensors<'a> = [Tensor<'a>];

fn write_tensors(tensors: &Tensors<'_>) -> (tempfile::TempDir, std::path::PathBuf) {
    write_with_metadata(tensors, None)
}

/// `tensors` as an int4 file would be marked: `weight_bits` = 4.
fn write_int4_tensors(tensors: &Tensors<'_>) -> (tempfile::TempDir, std::path::PathBuf) {
    write_with_metadata(tensors, Some(HashMap::from([("weight_bits".into(), "4".into())])))
}

fn write_with_metadata(
    tensors: &Tensors<'_>,
    metadata: Option<HashMap<String, String>>,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let views = tensors.iter().map(|(n, d, s, b)| (*n, TensorView::new(*d, s.clone(), b).unwrap()));
    fs::write(&path, serialize(views, metadata).unwrap()).unwrap();
    (dir, path)
}

fn f32_bytes(n: usize, value: f32) -> Vec<u8> {
    f32s_to_le(&vec![value; n])
}

#[test]
fn crafted_bad_safetensors_get_precise_errors() {
    let (_dir, path) =
        write_tensors(&[("linear.weight", Dtype::F32, vec![10, 784], f32_bytes(7840, 0.1))]);
    let error = file::read_float(&path).unwrap_err();
    assert!(matches!(error, FileError::Tensor { name: "linear.bias", .. }), "{error}");
    assert!(error.to_string().contains("missing"));

    let (_dir, path) = write_tensors(&[
        ("linear.weight", Dtype::F64, vec![10, 784], vec![0; 7840 * 8]),
        ("linear.bias", Dtype::F32, vec![10], f32_bytes(10, 0.0)),
    ]);
    let error = file::read_float(&path).unwrap_err();
    assert!(error.to_string().contains("expected F32 [10, 784]"), "{error}");

    let (_dir, path) = write_tensors(&[
        ("linear.weight", Dtype::F32, vec![784, 10], f32_bytes(7840, 0.1)),
        ("linear.bias", Dtype::F32, vec![10], f32_bytes(10, 0.0)),
    ]);
    assert!(matches!(
        file::read_float(&path).unwrap_err(),
        FileError::Tensor { name: "linear.weight", .. }
    ));

    let (_dir, path) = write_tensors(&[
        ("linear.weight", Dtype::F32, vec![10, 784], f32_bytes(7840, f32::NAN)),
        ("linear.bias", Dtype::F32, vec![10], f32_bytes(10, 0.0)),
    ]);
    let error = file::read_float(&path).unwrap_err();
    assert!(matches!(
        error,
        FileError::Model { source: ModelError::NotFinite { name: "linear.weight" }, .. }
    ));

    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.safetensors");
    fs::write(&garbage, b"\xff\xff\xff\xff\xff\xff\xff\x7fnot a header").unwrap();
    assert!(matches!(file::read_float(&garbage).unwrap_err(), FileError::Safetensors { .. }));
    let error = file::read_int8(&dir.path().join("absent")).unwrap_err();
    assert!(matches!(error, FileError::Io { .. }));
}

#[test]
fn crafted_bad_int4_safetensors_get_precise_errors_from_every_reader() {
    let weight = |values: Vec<i8>| values.into_iter().map(i8::cast_unsigned).collect::<Vec<u8>>();
    let mut out_of_range = vec![3i8; 7840];
    out_of_range[5] = 8;
    let scale = || ("linear.weight_scale", Dtype::F32, vec![10], f32_bytes(10, 0.01));
    let bias = || ("linear.bias", Dtype::F32, vec![10], f32_bytes(10, 0.0));
    let cases: [(Vec<Tensor<'_>>, &str); 5] = [
        (
            vec![
                ("linear.weight", Dtype::I8, vec![10, 784], weight(out_of_range)),
                scale(),
                bias(),
            ],
            "linear.weight holds 8 at index 5, outside the int4 range -8..=7",
        ),
        (
            vec![
                ("linear.weight", Dtype::F32, vec![10, 784], f32_bytes(7840, 0.1)),
                scale(),
                bias(),
            ],
            "tensor `linear.weight` is F32 [10, 784], expected I8 [10, 784]",
        ),
        (
            vec![("linear.weight", Dtype::I8, vec![784, 10], vec![1; 7840]), scale(), bias()],
            "tensor `linear.weight` is I8 [784, 10], expected I8 [10, 784]",
        ),
        (
            vec![("linear.weight", Dtype::I8, vec![10, 784], vec![1; 7840]), bias()],
            "tensor `linear.weight_scale` is missing",
        ),
        (
            vec![
                ("linear.weight", Dtype::I8, vec![10, 784], vec![1; 7840]),
                ("linear.weight_scale", Dtype::F32, vec![10], f32_bytes(10, 0.0)),
                bias(),
            ],
            "linear.weight_scale of class 0 is 0 but its weights are not all 0",
        ),
    ];
    for (tensors, problem) in cases {
        let (_dir, path) = write_int4_tensors(&tensors);
        let error = file::read_int4(&path).unwrap_err();
        assert!(matches!(error, FileError::Tensor { .. } | FileError::Model { .. }), "{error}");
        assert!(error.to_string().ends_with(problem), "{error}");
        // Marked int4, it is read as int4 or not at all: never taken for a float or int8 model.
        assert_eq!(ModelFile::open(&path).unwrap_err().to_string(), error.to_string());
    }
    let (_dir, path) = write_with_metadata(
        &[("linear.weight", Dtype::I8, vec![10, 784], vec![1; 7840]), scale(), bias()],
        Some(HashMap::from([("weight_bits".into(), "3".into())])),
    );
    let error = ModelFile::open(&path).unwrap_err();
    assert!(matches!(&error, FileError::WeightBits { found: Some(b), .. } if b == "3"), "{error}");
    assert!(
        error
            .to_string()
            .ends_with("metadata `weight_bits` is \"3\", expected 8 or absent (an int8 file)"),
        "{error}"
    );
}

/// The reference model: default preset, seed 0.
fn reference_model() -> FloatModel {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/model.safetensors");
    file::read_float(Path::new(path)).unwrap().0
}

/// The squared error of each class's logits on the training images (x 255^2).
fn training_logit_errors(float: &FloatModel, int4: &Int4Model) -> Vec<f64> {
    let rows = float.weight().chunks(PIXELS).zip(int4.weight().chunks(PIXELS)).zip(int4.scale());
    rows.map(|((w, q), &s)| {
        let error: Vec<f64> =
            w.iter().zip(q).map(|(&w, &q)| f64::from(w) - f64::from(q) * f64::from(s)).collect();
        calibration().logit_error(&error)
    })
    .collect()
}

#[test]
fn int4_calibrated_on_the_training_images_keeps_the_float_test_accuracy() {
    let float = reference_model();
    let test = Mnist::load(&bundled_dir()).unwrap().test;
    let accuracy = |blob: Vec<u8>| evaluate(&Model::from_blob(&blob).unwrap(), &test).unwrap();
    let float_accuracy = accuracy(float.to_blob().unwrap()).percent();
    let int4 = quantize_int4(&float, calibration());
    let int4_accuracy = accuracy(int4.to_blob().unwrap()).percent();
    assert!(
        (int4_accuracy - float_accuracy).abs() <= 0.15,
        "int4 {int4_accuracy:.2}% vs float {float_accuracy:.2}%"
    );
    // What the training images buy: rounding each weight to its nearest level (a calibration
    // without images) leaves over three times the error on every class's training logits.
    let blind = Calibration::from_training(&Split { images: vec![], labels: vec![] });
    let nearest = quantize_int4(&float, &blind);
    let (calibrated, nearest) =
        (training_logit_errors(&float, &int4), training_logit_errors(&float, &nearest));
    for (class, (c, n)) in calibrated.iter().zip(&nearest).enumerate() {
        assert!(c * 3.0 < *n, "class {class}: {c} calibrated, {n} nearest");
    }
}
