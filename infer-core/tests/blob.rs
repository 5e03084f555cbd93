//! Blob decoding: the documented layout, round trips, and rejection of every damaged blob.

use crc::{CRC_32_ISO_HDLC, Crc};
use infer_core::blob::{Arrays, Blob, FORMAT_VERSION, Params, encode};
use infer_core::{Error, Field, MAX_CLASSES, Model, Scheme};

const WEIGHTS_I8: [i8; 6] = [127, -128, 0, 5, -7, 1];
const WEIGHTS_F32: [f32; 6] = [0.5, -1.25, 2.0, 0.0, 3.5, -0.75];
/// The same logits as [`WEIGHTS_I8`] for images whose first two pixels are equal.
const WEIGHTS_I4: [i8; 6] = [-8, 7, 0, 5, -7, 1];
/// [`WEIGHTS_I4`] packed by hand: per row `(w0, w1)`, then `(w2, 0)`, low nibble first.
const PACKED_I4: [u8; 4] = [0x78, 0x00, 0x95, 0x01];

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

fn int4_blob() -> Vec<u8> {
    encode(&Params::Int4 {
        inputs: 3,
        classes: 2,
        weights: &WEIGHTS_I4,
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
    in_version(FORMAT_VERSION, scheme, inputs, classes, arrays)
}

/// [`by_the_docs`] in layout `version`: from 2 on, each array after the fewest zero bytes
/// (with their varint length) that start it at a multiple of 16.
fn in_version(version: u16, scheme: u8, inputs: u32, classes: u32, arrays: &[&[u8]]) -> Vec<u8> {
    let mut out = b"ICBL".to_vec();
    for field in [u32::from(version), inputs, classes, u32::from(scheme)] {
        varint(field, &mut out);
    }
    for array in arrays {
        let mut len = Vec::new();
        varint(array.len() as u32, &mut len);
        if version >= 2 {
            let padding =
                (0..16).find(|p| (out.len() + 1 + p + len.len()).is_multiple_of(16)).unwrap();
            out.push(padding as u8);
            out.extend(std::iter::repeat_n(0, padding));
        }
        out.extend_from_slice(&len);
        out.extend_from_slice(array);
    }
    with_crc(out)
}

fn varint(mut v: u32, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends the CRC-32 of `message`.
fn with_crc(mut message: Vec<u8>) -> Vec<u8> {
    let crc = Crc::<u32>::new(&CRC_32_ISO_HDLC).checksum(&message);
    message.extend_from_slice(&crc.to_le_bytes());
    message
}

/// `blob` without its CRC-32, changed by `edit`, with a fresh CRC-32.
fn edited(blob: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut message = blob[..blob.len() - 4].to_vec();
    edit(&mut message);
    with_crc(message)
}

fn le(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn encoder_writes_exactly_the_documented_layout() {
    let q: Vec<u8> = WEIGHTS_I8.iter().map(|&w| w as u8).collect();
    let expected = by_the_docs(1, 3, 2, &[&q, &le(&[0.5, 0.25]), &le(&[1.0, -2.0])]);
    assert_eq!(int8_blob(), expected);
    let expected = by_the_docs(2, 3, 2, &[&PACKED_I4, &le(&[0.5, 0.25]), &le(&[1.0, -2.0])]);
    assert_eq!(int4_blob(), expected);
    let expected = by_the_docs(0, 3, 2, &[&le(&WEIGHTS_F32), &le(&[0.25, -0.5])]);
    assert_eq!(f32_blob(), expected);
}

#[test]
fn quantized_logits_follow_the_documented_formula_exactly() {
    for (blob, scheme) in [(int8_blob(), Scheme::Int8), (int4_blob(), Scheme::Int4)] {
        let model = Model::from_blob(&blob).unwrap();
        assert_eq!((model.inputs(), model.classes(), model.scheme()), (3, 2, scheme));
        let image = [255u8, 255, 3];
        // int8, class 0: 127*255 - 128*255 + 0*3 = -255; class 1: 5*255 - 7*255 + 1*3 = -507.
        // int4: -8*255 + 7*255 + 0*3 = -255 and the same -507.
        let expected = [-255.0f32 * (0.5 / 255.0) + 1.0, -507.0f32 * (0.25 / 255.0) - 2.0];
        assert_eq!(bits(&model.logits(&image).unwrap()), bits(&expected), "{scheme:?}");
    }
}

/// All 16 nibble values are weights, in both halves of a byte.
#[test]
fn every_int4_nibble_is_a_valid_weight() {
    let weights: Vec<i8> = (-8..=7).chain((-8..=7).rev()).collect();
    let params =
        Params::Int4 { inputs: 32, classes: 1, weights: &weights, scales: &[1.0], bias: &[0.0] };
    let blob = encode(&params).unwrap();
    let Arrays::Int4 { weights: packed, .. } = Blob::parse(&blob).unwrap().arrays() else {
        panic!("not int4")
    };
    let nibbles: Vec<u8> = packed.iter().flat_map(|b| [b & 15, b >> 4]).collect();
    assert_eq!(nibbles.iter().copied().collect::<std::collections::BTreeSet<_>>().len(), 16);
    let pixels: Vec<u8> = (0..32).map(|i| i * 8).collect();
    let sum: i32 = weights.iter().zip(&pixels).map(|(&w, &p)| i32::from(w) * i32::from(p)).sum();
    let logit = Model::from_blob(&blob).unwrap().logits(&pixels).unwrap()[0];
    assert_eq!(logit.to_bits(), (sum as f32 * (1.0 / 255.0)).to_bits());
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
    for blob in [int8_blob(), int4_blob(), f32_blob()] {
        for len in 0..blob.len() {
            assert_eq!(Model::from_blob(&blob[..len]).unwrap_err(), Error::Truncated, "len {len}");
        }
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    for blob in [int8_blob(), int4_blob(), f32_blob()] {
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
    future[4] = 3;
    assert_eq!(Model::from_blob(&future).unwrap_err(), Error::UnsupportedVersion(3));
    future[4] = 0;
    assert_eq!(Model::from_blob(&future).unwrap_err(), Error::UnsupportedVersion(0));

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
    let cases: [(Vec<u8>, Error); 10] = [
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
        (
            by_the_docs(2, 3, 1, &[&[0x11], &le(&[1.0]), &le(&[0.0])]),
            Error::LengthMismatch { field: Field::Weights, expected: 2, found: 1 },
        ),
        // 3 inputs: the last byte's high nibble is not a weight, and must be 0.
        (
            by_the_docs(2, 3, 1, &[&[0x11, 0x11], &le(&[1.0]), &le(&[0.0])]),
            Error::InvalidValue { field: Field::Weights },
        ),
        // A scale of 0 with weights that are not all 0: two encodings of one model.
        (
            by_the_docs(2, 2, 1, &[&[0x10], &le(&[0.0]), &le(&[0.0])]),
            Error::InvalidValue { field: Field::Scales },
        ),
        (
            by_the_docs(2, 2, 1, &[&[0x10], &le(&[f32::INFINITY]), &le(&[0.0])]),
            Error::InvalidValue { field: Field::Scales },
        ),
    ];
    for (blob, expected) in cases {
        assert_eq!(Model::from_blob(&blob).unwrap_err(), expected);
    }
    // A scale of 0 for a row of zeros is the one encoding of that row.
    let zero_row = by_the_docs(2, 2, 2, &[&[0x00, 0x7F], &le(&[0.0, 1.0]), &le(&[0.0, 0.0])]);
    assert_eq!(Model::from_blob(&zero_row).unwrap().logits(&[9, 1]).unwrap()[0], 0.0);
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
    for weights in [[8, 0], [0, -9]] {
        let wide =
            Params::Int4 { inputs: 2, classes: 1, weights: &weights, scales: &[1.0], bias: &[0.0] };
        assert_eq!(encode(&wide).unwrap_err(), Error::InvalidValue { field: Field::Weights });
    }
    let short = Params::Int4 { inputs: 2, classes: 1, weights: &[1], scales: &[1.0], bias: &[0.0] };
    assert!(matches!(
        encode(&short).unwrap_err(),
        Error::LengthMismatch { field: Field::Weights, .. }
    ));
}

#[test]
fn inputs_of_the_wrong_kind_are_errors() {
    for blob in [int8_blob(), int4_blob()] {
        let model = Model::from_blob(&blob).unwrap();
        let wrong_length = Error::InputLength { expected: 3, found: 4 };
        assert_eq!(model.logits(&[0; 4]).unwrap_err(), wrong_length);
        assert_eq!(model.logits_normalized(&[0.0; 3]).unwrap_err(), Error::SchemeMismatch);
    }
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

#[test]
fn every_array_starts_16_byte_aligned_after_the_fewest_zero_bytes() {
    for blob in [int8_blob(), int4_blob(), f32_blob()] {
        let parsed = Blob::parse(&blob).unwrap();
        assert_eq!(parsed.version(), FORMAT_VERSION);
        let arrays: Vec<&[u8]> = match parsed.arrays() {
            Arrays::F32 { weights, bias } => vec![weights, bias],
            Arrays::Int8 { weights, scales, bias } | Arrays::Int4 { weights, scales, bias } => {
                vec![weights, scales, bias]
            }
            _ => unreachable!(),
        };
        for array in arrays {
            let offset = array.as_ptr().addr() - blob.as_ptr().addr();
            assert!(offset.is_multiple_of(16), "array at {offset}");
        }
    }
}

#[test]
fn padding_that_is_not_the_one_documented_is_malformed() {
    let blob = int8_blob();
    // ICBL, version, 3 inputs, 2 classes, int8 (8 bytes), then the weights' padding length 6,
    // 6 zeros and the weights' length: the weights start at 16.
    assert_eq!(blob[8..16], [6, 0, 0, 0, 0, 0, 0, 6]);
    let padded =
        |padding: &[u8]| edited(&blob, |m| m.splice(8..15, padding.to_vec()).for_each(drop));
    let cases = [
        edited(&blob, |m| m[9] = 1),                   // a non-zero padding byte
        padded(&[[22].as_slice(), &[0; 22]].concat()), // aligned, but not the fewest bytes
        padded(&[5, 0, 0, 0, 0, 0]),                   // one byte short: misaligned
        padded(&[0x85, 0x00, 0, 0, 0, 0, 0]),          // its length as an overlong varint
    ];
    for bad in cases {
        assert_eq!(Model::from_blob(&bad).unwrap_err(), Error::Malformed, "{bad:02x?}");
    }
}

#[test]
fn overlong_varints_are_malformed_so_each_model_has_one_encoding() {
    // inputs = 3 as `83 00`, the arrays moved by one byte and re-padded.
    let blob = by_the_docs(0, 3, 2, &[&le(&WEIGHTS_F32), &le(&[0.25, -0.5])]);
    let overlong = edited(&blob, |m| {
        m.splice(5..6, [0x83, 0x00]).for_each(drop);
        m.remove(10); // one padding byte less keeps the weights aligned
        m[9] -= 1;
    });
    assert_eq!(Model::from_blob(&overlong).unwrap_err(), Error::Malformed);
    // A u32 of 6 bytes, and a version above u16.
    assert_eq!(
        Model::from_blob(&with_crc(b"ICBL\x02\x80\x80\x80\x80\x80\x01".to_vec())).unwrap_err(),
        Error::Malformed
    );
    assert_eq!(
        Model::from_blob(&with_crc(b"ICBL\x80\x80\x04".to_vec())).unwrap_err(),
        Error::Malformed
    );
}

#[test]
fn version_1_blobs_are_still_read() {
    let q: Vec<u8> = WEIGHTS_I8.iter().map(|&w| w as u8).collect();
    let v1 = in_version(1, 1, 3, 2, &[&q, &le(&[0.5, 0.25]), &le(&[1.0, -2.0])]);
    let parsed = Blob::parse(&v1).unwrap();
    assert_eq!((parsed.version(), parsed.inputs(), parsed.classes()), (1, 3, 2));
    let v2 = int8_blob();
    let (v1, v2) = (Model::from_blob(&v1).unwrap(), Model::from_blob(&v2).unwrap());
    let image = [200, 7, 255];
    assert_eq!(bits(&v1.logits(&image).unwrap()), bits(&v2.logits(&image).unwrap()));
}

/// The reference model's v1 blob, as devices in the field hold it, gives the logits of its v2
/// re-encoding bit for bit; that re-encoding is the committed v2 fixture.
#[test]
fn the_v1_fixture_reencodes_to_the_v2_fixture_with_the_same_logits() {
    let fixture = |name: &str| {
        std::fs::read(format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    };
    for (v1, v2) in [
        ("model.v1.int8.postcard", "model.int8.postcard"),
        ("model.v1.f32.postcard", "model.f32.postcard"),
    ] {
        let (v1, v2) = (fixture(v1), fixture(v2));
        let parsed = Blob::parse(&v1).unwrap();
        assert_eq!((parsed.version(), Blob::parse(&v2).unwrap().version()), (1, 2));
        assert_eq!(reencode(&parsed), v2);
        let (old, new) = (Model::from_blob(&v1).unwrap(), Model::from_blob(&v2).unwrap());
        for image in [[0; 784], [255; 784], std::array::from_fn(|i| (i * 7) as u8)] {
            assert_eq!(bits(&old.logits(&image).unwrap()), bits(&new.logits(&image).unwrap()));
        }
    }
}

/// Encodes the parameters of `blob` in the current version.
fn reencode(blob: &Blob<'_>) -> Vec<u8> {
    let floats = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
    };
    let (inputs, classes) = (blob.inputs(), blob.classes());
    match blob.arrays() {
        Arrays::F32 { weights, bias } => {
            let (weights, bias) = (floats(weights), floats(bias));
            encode(&Params::F32 { inputs, classes, weights: &weights, bias: &bias })
        }
        Arrays::Int8 { weights, scales, bias } => {
            let weights: Vec<i8> = weights.iter().map(|&w| w as i8).collect();
            let (scales, bias) = (floats(scales), floats(bias));
            let params =
                Params::Int8 { inputs, classes, weights: &weights, scales: &scales, bias: &bias };
            encode(&params)
        }
        Arrays::Int4 { weights, scales, bias } => {
            let row = |r: &[u8]| {
                r.iter()
                    .flat_map(|&b| [(b << 4) as i8 >> 4, b as i8 >> 4])
                    .take(inputs)
                    .collect::<Vec<_>>()
            };
            let weights: Vec<i8> = weights.chunks(inputs.div_ceil(2)).flat_map(row).collect();
            let (scales, bias) = (floats(scales), floats(bias));
            let params =
                Params::Int4 { inputs, classes, weights: &weights, scales: &scales, bias: &bias };
            encode(&params)
        }
        _ => unreachable!(),
    }
    .unwrap()
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// What the `blob` docs say a version 2 blob is, in postcard's terms.
#[derive(serde::Deserialize)]
struct Postcard<'a> {
    magic: [u8; 4],
    version: u16,
    inputs: u32,
    classes: u32,
    #[serde(borrow)]
    arrays: PostcardArrays<'a>,
}

#[derive(serde::Deserialize)]
enum PostcardArrays<'a> {
    F32 {
        pad: &'a [u8],
        weights: &'a [u8],
        pad_bias: &'a [u8],
        bias: &'a [u8],
    },
    Int8 {
        pad: &'a [u8],
        weights: &'a [u8],
        pad_scales: &'a [u8],
        scales: &'a [u8],
        pad_bias: &'a [u8],
        bias: &'a [u8],
    },
    Int4 {
        pad: &'a [u8],
        weights: &'a [u8],
        pad_scales: &'a [u8],
        scales: &'a [u8],
        pad_bias: &'a [u8],
        bias: &'a [u8],
    },
}

#[test]
fn postcard_reads_a_blob_as_documented() {
    for blob in [int8_blob(), int4_blob(), f32_blob()] {
        let (wire, crc) = postcard::take_from_bytes::<Postcard<'_>>(&blob).unwrap();
        assert_eq!((wire.magic, wire.version, crc.len()), (*b"ICBL", FORMAT_VERSION, 4));
        let view = Blob::parse(&blob).unwrap();
        assert_eq!((wire.inputs as usize, wire.classes as usize), (view.inputs(), view.classes()));
        let (pads, arrays) = match (wire.arrays, view.arrays()) {
            (PostcardArrays::F32 { pad, weights, pad_bias, bias }, Arrays::F32 { .. }) => {
                (vec![pad, pad_bias], Arrays::F32 { weights, bias })
            }
            (
                PostcardArrays::Int8 { pad, weights, pad_scales, scales, pad_bias, bias },
                Arrays::Int8 { .. },
            ) => (vec![pad, pad_scales, pad_bias], Arrays::Int8 { weights, scales, bias }),
            (
                PostcardArrays::Int4 { pad, weights, pad_scales, scales, pad_bias, bias },
                Arrays::Int4 { .. },
            ) => (vec![pad, pad_scales, pad_bias], Arrays::Int4 { weights, scales, bias }),
            _ => panic!("postcard and the decoder disagree on the scheme"),
        };
        assert_eq!(arrays, view.arrays());
        assert!(pads.iter().all(|pad| pad.len() < 16 && pad.iter().all(|&b| b == 0)));
    }
}
