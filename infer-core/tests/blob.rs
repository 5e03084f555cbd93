//! Blob decoding: the documented layout, round trips, and rejection of every damaged blob.

use crc::{CRC_32_ISO_HDLC, Crc};
use infer_core::blob::{FORMAT_VERSION, Params, encode};
use infer_core::{Error, Field, MAX_CLASSES, Model, Scheme};

const WEIGHTS_I8: [i8; 6] = [127, -128, 0, 5, -7, 1];
const WEIGHTS_F32: [f32; 6] = [0.5, -1.25, 2.0, 0.0, 3.5, -0.75];

fn int8_blob() -> Vec<u8> {
    encode(&Params::Int8 {
        inputs: 3,
        classes: 2,
        weights: &WEIGHTS_I8,
        scales: &[0.5, 0.25],
        bias: &[1.0, -2.0],
    })
    .unwrap()
}

fn f32_blob() -> Vec<u8> {
    encode(&Params::F32 { inputs: 3, classes: 2, weights: &WEIGHTS_F32, bias: &[0.25, -0.5] })
        .unwrap()
}

/// Writes the layout from the `blob` module docs by hand, as a decoder in another language would
/// read it: varint = unsigned LEB128, byte arrays with a varint length, CRC-32 (zlib) LE.
fn by_the_docs(scheme: u8, inputs: u32, classes: u32, arrays: &[&[u8]]) -> Vec<u8> {
    fn varint(mut v: u32, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut out = b"ICBL".to_vec();
    varint(u32::from(FORMAT_VERSION), &mut out);
    varint(inputs, &mut out);
    varint(classes, &mut out);
    varint(u32::from(scheme), &mut out);
    for array in arrays {
        varint(array.len() as u32, &mut out);
        out.extend_from_slice(array);
    }
    let crc = Crc::<u32>::new(&CRC_32_ISO_HDLC).checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn le(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn encoder_writes_exactly_the_documented_layout() {
    let q: Vec<u8> = WEIGHTS_I8.iter().map(|&w| w as u8).collect();
    let expected = by_the_docs(1, 3, 2, &[&q, &le(&[0.5, 0.25]), &le(&[1.0, -2.0])]);
    assert_eq!(int8_blob(), expected);
    let expected = by_the_docs(0, 3, 2, &[&le(&WEIGHTS_F32), &le(&[0.25, -0.5])]);
    assert_eq!(f32_blob(), expected);
}

#[test]
fn int8_logits_follow_the_documented_formula_exactly() {
    let blob = int8_blob();
    let model = Model::from_blob(&blob).unwrap();
    assert_eq!((model.inputs(), model.classes(), model.scheme()), (3, 2, Scheme::Int8));
    let image = [255u8, 255, 3];
    // Class 0: 127*255 - 128*255 + 0*3 = -255; class 1: 5*255 - 7*255 + 1*3 = -507.
    let expected = [-255.0f32 * (0.5 / 255.0) + 1.0, -507.0f32 * (0.25 / 255.0) - 2.0];
    let logits = model.logits(&image).unwrap();
    assert_eq!(
        logits.iter().map(|l| l.to_bits()).collect::<Vec<_>>(),
        expected.iter().map(|l| l.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn f32_logits_use_normalized_pixels() {
    let blob = f32_blob();
    let model = Model::from_blob(&blob).unwrap();
    let image = [255u8, 51, 0];
    let x = image.map(|p| f32::from(p) / 255.0);
    let expected: Vec<f32> = WEIGHTS_F32
        .chunks(3)
        .zip([0.25, -0.5])
        .map(|(row, b)| row.iter().zip(&x).fold(0.0, |s, (w, x)| s + w * x) + b)
        .collect();
    assert_eq!(model.logits(&image).unwrap().as_slice(), expected.as_slice());
    assert_eq!(model.logits_normalized(&x).unwrap().as_slice(), expected.as_slice());
}

#[test]
fn every_truncation_is_rejected() {
    for blob in [int8_blob(), f32_blob()] {
        for len in 0..blob.len() {
            assert_eq!(Model::from_blob(&blob[..len]).unwrap_err(), Error::Truncated, "len {len}");
        }
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    for blob in [int8_blob(), f32_blob()] {
        for bit in 0..blob.len() * 8 {
            let mut bad = blob.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(Model::from_blob(&bad).is_err(), "bit {bit} flipped was accepted");
        }
    }
}

#[test]
fn foreign_and_future_blobs_get_precise_errors() {
    assert_eq!(Model::from_blob(b"").unwrap_err(), Error::Truncated);
    assert_eq!(Model::from_blob(b"IC").unwrap_err(), Error::Truncated);
    assert_eq!(Model::from_blob(b"\x89PNG\r\n").unwrap_err(), Error::BadMagic);
    assert_eq!(Model::from_blob(b"{}").unwrap_err(), Error::BadMagic);

    let mut future = int8_blob();
    future[4] = 2;
    assert_eq!(Model::from_blob(&future).unwrap_err(), Error::UnsupportedVersion(2));

    let mut trailing = int8_blob();
    trailing.push(0);
    assert_eq!(Model::from_blob(&trailing).unwrap_err(), Error::TrailingBytes);

    let mut corrupted = int8_blob();
    corrupted[20] ^= 0x10;
    assert_eq!(Model::from_blob(&corrupted).unwrap_err(), Error::ChecksumMismatch);

    let unknown_scheme = by_the_docs(7, 1, 1, &[&[1], &le(&[1.0])]);
    assert_eq!(Model::from_blob(&unknown_scheme).unwrap_err(), Error::Malformed);
}

#[test]
fn checksummed_but_inconsistent_blobs_are_rejected() {
    let cases: [(Vec<u8>, Error); 6] = [
        (
            by_the_docs(0, 0, 1, &[&[], &le(&[0.0])]),
            Error::UnsupportedShape { inputs: 0, classes: 1 },
        ),
        (
            by_the_docs(0, 1, MAX_CLASSES as u32 + 1, &[&[], &[]]),
            Error::UnsupportedShape { inputs: 1, classes: MAX_CLASSES as u32 + 1 },
        ),
        (
            by_the_docs(0, 2, 1, &[&le(&[1.0]), &le(&[0.0])]),
            Error::LengthMismatch { field: Field::Weights, expected: 8, found: 4 },
        ),
        (
            by_the_docs(1, 1, 1, &[&[1], &le(&[1.0]), &[]]),
            Error::LengthMismatch { field: Field::Bias, expected: 4, found: 0 },
        ),
        (
            by_the_docs(0, 1, 1, &[&le(&[f32::NAN]), &le(&[0.0])]),
            Error::InvalidValue { field: Field::Weights },
        ),
        (
            by_the_docs(1, 1, 1, &[&[1], &le(&[-1.0]), &le(&[0.0])]),
            Error::InvalidValue { field: Field::Scales },
        ),
    ];
    for (blob, expected) in cases {
        assert_eq!(Model::from_blob(&blob).unwrap_err(), expected);
    }
}

#[test]
fn encode_refuses_what_a_device_would_reject() {
    let bad = Params::F32 { inputs: 1, classes: 1, weights: &[f32::INFINITY], bias: &[0.0] };
    assert_eq!(encode(&bad).unwrap_err(), Error::InvalidValue { field: Field::Weights });
    let short = Params::Int8 { inputs: 2, classes: 1, weights: &[1], scales: &[1.0], bias: &[0.0] };
    assert!(matches!(
        encode(&short).unwrap_err(),
        Error::LengthMismatch { field: Field::Weights, .. }
    ));
}

#[test]
fn inputs_of_the_wrong_kind_are_errors() {
    let blob = int8_blob();
    let model = Model::from_blob(&blob).unwrap();
    assert_eq!(model.logits(&[0; 4]).unwrap_err(), Error::InputLength { expected: 3, found: 4 });
    assert_eq!(model.logits_normalized(&[0.0; 3]).unwrap_err(), Error::SchemeMismatch);
}

#[test]
fn a_blob_at_the_start_of_a_flash_region_is_found() {
    let blob = int8_blob();
    let mut region = blob.clone();
    region.resize(4096, 0xFF);
    let model = Model::from_region(&region).unwrap();
    assert_eq!(model.logits(&[1, 2, 3]), Model::from_blob(&blob).unwrap().logits(&[1, 2, 3]));
    assert_eq!(Model::from_region(&[0xFF; 4096]).unwrap_err(), Error::BadMagic);
    assert_eq!(Model::from_region(&[0; 4096]).unwrap_err(), Error::BadMagic);
    region[30] ^= 4;
    assert!(Model::from_region(&region).is_err());
    assert_eq!(Model::from_region(&blob[..blob.len() - 1]).unwrap_err(), Error::Truncated);
}
