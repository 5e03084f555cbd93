//! Model files: round trips, atomic writes, and crafted bad safetensors.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, serialize};
use trainer::atomic_write::{WriteError, write_atomically};
use trainer::bytes::f32s_to_le;
use trainer::model::{FloatModel, ModelError};
use trainer::quantize::quantize;
use trainer::safetensors_file::{self as file, FileError, Metadata};

fn model() -> FloatModel {
    let weight = (0..7840).map(|i| ((i * 37 % 101) as f32 - 50.0) / 1000.0).collect();
    FloatModel::new(weight, (0..10).map(|c| c as f32 / 10.0).collect()).unwrap()
}

#[test]
fn float_and_int8_files_round_trip_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let metadata = Metadata::from([("float_test_accuracy".to_string(), "92.70".to_string())]);
    let float = model();
    let int8 = quantize(&float);
    let (float_path, int8_path) =
        (dir.path().join("m.safetensors"), dir.path().join("m.int8.safetensors"));
    write_atomically(&[
        (float_path.clone(), file::float_safetensors(&float, &metadata).unwrap()),
        (int8_path.clone(), file::int8_safetensors(&int8, &metadata).unwrap()),
    ])
    .unwrap();
    assert_eq!(file::read_float(&float_path).unwrap(), (float.clone(), metadata.clone()));
    assert_eq!(file::read_int8(&int8_path).unwrap(), (int8.clone(), metadata));
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
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

fn write_tensors(
    tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)],
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let views = tensors.iter().map(|(n, d, s, b)| (*n, TensorView::new(*d, s.clone(), b).unwrap()));
    fs::write(&path, serialize(views, None::<HashMap<String, String>>).unwrap()).unwrap();
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
