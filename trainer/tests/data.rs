//! The IDX reader on the bundled MNIST and on crafted bad files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::{Compression, write::GzEncoder};
use trainer::data::{DataError, Mnist, PIXELS, Split, bundled_dir};

const NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

#[test]
fn bundled_mnist_is_canonical() {
    let mnist = Mnist::load(&bundled_dir()).unwrap();
    assert_eq!((mnist.train.len(), mnist.test.len()), (60_000, 10_000));
    assert_eq!(mnist.train.images.len(), 60_000 * PIXELS);
    assert!(mnist.is_canonical(), "{:?}", mnist.digests);
    // The first training image is a 5, the first test image a 7.
    assert_eq!((mnist.train.labels[0], mnist.test.labels[0]), (5, 7));
}

#[test]
fn torchvision_layout_and_raw_files_load_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("MNIST").join("raw");
    fs::create_dir_all(&raw).unwrap();
    for name in NAMES {
        let mut gz = Vec::new();
        let file = fs::File::open(bundled_dir().join(format!("{name}.gz"))).unwrap();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(file), &mut gz).unwrap();
        fs::write(raw.join(name), gz).unwrap();
    }
    let from_raw = Mnist::load(dir.path()).unwrap();
    let bundled = Mnist::load(&bundled_dir()).unwrap();
    assert_eq!(from_raw.digests, bundled.digests);
    assert_eq!(from_raw.test.images, bundled.test.images);
}

#[test]
fn a_missing_file_names_itself_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let error = Mnist::load(dir.path()).unwrap_err();
    assert!(
        matches!(error, DataError::NotFound { file: "train-images-idx3-ubyte", .. }),
        "{error}"
    );
    assert!(error.to_string().contains("--data-dir"));
}

fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Loads a crafted images file (with two valid labels) and returns the error.
fn load_images(dir: &Path, images: &[u8]) -> DataError {
    let (images_path, labels_path) = (dir.join("images"), dir.join("labels"));
    fs::write(&images_path, images).unwrap();
    fs::write(&labels_path, idx(0x801, &[2], &[3, 4])).unwrap();
    Split::load(&images_path, &labels_path).unwrap_err()
}

fn path_of(error: &DataError) -> PathBuf {
    match error {
        DataError::BadMagic { path, .. }
        | DataError::BadDimensions { path, .. }
        | DataError::Length { path, .. }
        | DataError::BadLabel { path, .. } => path.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn crafted_bad_idx_files_get_precise_errors() {
    let dir = tempfile::tempdir().unwrap();
    let two_images = vec![0u8; 2 * PIXELS];

    let error = load_images(dir.path(), &idx(0x801, &[2, 28, 28], &two_images));
    assert!(matches!(error, DataError::BadMagic { found: 0x801, expected: 0x803, .. }), "{error}");
    assert!(path_of(&error).ends_with("images"));

    let error = load_images(dir.path(), &idx(0x803, &[2, 28, 27], &two_images));
    assert!(matches!(error, DataError::BadDimensions { .. }), "{error}");

    let error = load_images(dir.path(), &idx(0x803, &[2, 28, 28], &two_images[1..]));
    assert!(matches!(error, DataError::Length { expected: 1568, found: 1567, .. }), "{error}");

    let error = load_images(dir.path(), &idx(0x803, &[2, 28], &[]));
    assert!(matches!(error, DataError::Length { .. }), "{error}");

    let error = load_images(dir.path(), &[0x00, 0x00]);
    assert!(matches!(error, DataError::Length { .. }), "{error}");

    let error = load_images(dir.path(), &idx(0x803, &[3, 28, 28], &two_images));
    assert!(matches!(error, DataError::Length { .. }), "{error}");
}

#[test]
fn a_header_claiming_gigabytes_costs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // 0xFFFF_FFFF images of 784 bytes: about 3.4 TB promised, 100 bytes present.
    let huge = idx(0x803, &[u32::MAX, 28, 28], &[0; 100]);
    let error = load_images(dir.path(), &huge);
    assert!(matches!(error, DataError::Length { found: 100, .. }), "{error}");
    let error = load_images(dir.path(), &gzip(&huge));
    assert!(matches!(error, DataError::Length { found: 100, .. }), "{error}");
}

#[test]
fn gzip_files_are_checked_like_raw_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut long = idx(0x803, &[2, 28, 28], &[0; 2 * PIXELS]);
    long.push(0);
    let error = load_images(dir.path(), &gzip(&long));
    assert!(matches!(error, DataError::Length { found_is_lower_bound: true, .. }), "{error}");

    let good = gzip(&idx(0x803, &[2, 28, 28], &[0; 2 * PIXELS]));
    let error = load_images(dir.path(), &good[..good.len() / 2]);
    assert!(matches!(error, DataError::Io { .. } | DataError::Length { .. }), "{error}");
}

#[test]
fn labels_must_be_digits_and_match_the_images() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = (dir.path().join("i"), dir.path().join("l"));
    fs::write(&images, idx(0x803, &[2, 28, 28], &[0; 2 * PIXELS])).unwrap();

    fs::write(&labels, idx(0x801, &[2], &[3, 10])).unwrap();
    let error = Split::load(&images, &labels).unwrap_err();
    assert!(matches!(error, DataError::BadLabel { index: 1, label: 10, .. }), "{error}");

    fs::write(&labels, idx(0x801, &[3], &[3, 4, 5])).unwrap();
    let error = Split::load(&images, &labels).unwrap_err();
    assert!(
        matches!(error, DataError::CountMismatch { image_count: 2, label_count: 3, .. }),
        "{error}"
    );

    fs::write(&labels, idx(0x801, &[2], &[3, 4])).unwrap();
    let (split, _) = Split::load(&images, &labels).unwrap();
    assert_eq!(split.labels, [3, 4]);
}
