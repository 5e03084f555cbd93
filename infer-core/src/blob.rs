//! The weights blob: its byte layout, decoding (always) and encoding (feature `encode`).
//!
//! A blob is one [postcard] message followed by its CRC-32. Postcard writes integers as
//! *varints* (unsigned LEB128: 7 bits per byte, least significant group first, high bit set on
//! every byte but the last) and byte arrays as a varint length followed by the bytes. Floats are
//! IEEE-754 binary32, little-endian. In order:
//!
//! | field          | encoding                  | value                                           |
//! |----------------|---------------------------|-------------------------------------------------|
//! | magic          | 4 raw bytes               | `ICBL` (`49 43 42 4C`)                          |
//! | format version | varint (u16)              | [`FORMAT_VERSION`] (1)                          |
//! | inputs         | varint (u32)              | `n`: 784 for MNIST, at most [`MAX_INPUTS`]      |
//! | classes        | varint (u32)              | `k`: 10 for MNIST, at most [`MAX_CLASSES`]      |
//! | scheme         | varint (u32)              | `0` = f32, `1` = int8                           |
//! | *f32:* weights | varint length + bytes     | `k*n*4` bytes: f32, row-major `[class][input]`  |
//! | *f32:* bias    | varint length + bytes     | `k*4` bytes: f32                                |
//! | *int8:* weights| varint length + bytes     | `k*n` bytes: i8 (two's complement), `[class][input]` |
//! | *int8:* scales | varint length + bytes     | `k*4` bytes: f32, one per class, finite, >= 0   |
//! | *int8:* bias   | varint length + bytes     | `k*4` bytes: f32                                |
//! | CRC-32         | 4 bytes, little-endian    | CRC-32/ISO-HDLC (as zlib's `crc32`) of every byte before it |
//!
//! Nothing follows the CRC. For MNIST (784 x 10) an int8 blob is 7,937 bytes and an f32 blob
//! 31,417 bytes.
//!
//! The float model computes `logit[c] = sum_i w[c][i] * x[i] + bias[c]` with `x[i] = p[i] / 255`
//! for a pixel `p[i]`. The int8 model approximates `w[c][i]` by `q[c][i] * scale[c]` and computes
//! `logit[c] = (sum_i q[c][i] * p[i]) as f32 * (scale[c] / 255) + bias[c]`: the sum is exact in
//! an i32, then one f32 multiply and one add, all IEEE-754 round-to-nearest, so every target
//! gets the same bits.
//!
//! [`MAX_INPUTS`]: crate::MAX_INPUTS
//! [`MAX_CLASSES`]: crate::MAX_CLASSES

use crc::{CRC_32_ISO_HDLC, Crc, NoTable};
use serde::Deserialize;

use crate::model::{Model, Weights};
use crate::{Error, Field, MAX_CLASSES, MAX_INPUTS};

/// The first four bytes of every blob.
pub const MAGIC: [u8; 4] = *b"ICBL";

/// The layout version this build reads and writes.
pub const FORMAT_VERSION: u16 = 1;

/// Bitwise CRC-32: no 1 KiB lookup table in flash, for about 64 instructions per byte on a
/// Cortex-M4 (0.5 M to validate the 7.9 KB MNIST blob once at boot).
static CRC32: Crc<u32, NoTable> = Crc::<u32, NoTable>::new(&CRC_32_ISO_HDLC);

/// What precedes everything else, read first so that a foreign file or a newer format gets a
/// precise error rather than a checksum failure.
#[derive(Deserialize)]
#[cfg_attr(feature = "encode", derive(serde::Serialize))]
struct Header {
    magic: [u8; 4],
    version: u16,
}

/// The whole message, in the order of the table above.
#[derive(Deserialize)]
#[cfg_attr(feature = "encode", derive(serde::Serialize))]
struct Wire<'a> {
    /// Read and checked on its own before this pass (see [`decode`]).
    #[cfg_attr(not(feature = "encode"), allow(dead_code))]
    header: Header,
    inputs: u32,
    classes: u32,
    #[serde(borrow)]
    payload: Payload<'a>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "encode", derive(serde::Serialize))]
enum Payload<'a> {
    F32 { weights: &'a [u8], bias: &'a [u8] },
    Int8 { weights: &'a [u8], scales: &'a [u8], bias: &'a [u8] },
}

/// Decodes and validates a blob that fills `bytes` exactly, borrowing its weights.
pub(crate) fn decode(bytes: &[u8]) -> Result<Model<'_>, Error> {
    match decode_prefix(bytes)? {
        (model, []) => Ok(model),
        _ => Err(Error::TrailingBytes),
    }
}

/// Decodes and validates the blob at the start of `bytes`; returns it and what follows it.
pub(crate) fn decode_prefix(bytes: &[u8]) -> Result<(Model<'_>, &[u8]), Error> {
    let header = match postcard::take_from_bytes::<Header>(bytes) {
        Ok((header, _)) => header,
        Err(error) if bytes.starts_with(&MAGIC) => return Err(wire_error(error)),
        Err(_) if MAGIC.starts_with(bytes) => return Err(Error::Truncated),
        Err(_) => return Err(Error::BadMagic),
    };
    if header.magic != MAGIC {
        return Err(Error::BadMagic);
    }
    if header.version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion(header.version));
    }
    let (wire, after) = postcard::take_from_bytes::<Wire<'_>>(bytes).map_err(wire_error)?;
    let message = &bytes[..bytes.len() - after.len()];
    let (stored, rest) = after.split_first_chunk::<4>().ok_or(Error::Truncated)?;
    if CRC32.checksum(message) != u32::from_le_bytes(*stored) {
        return Err(Error::ChecksumMismatch);
    }

    let shape_error = Error::UnsupportedShape { inputs: wire.inputs, classes: wire.classes };
    let inputs = usize::try_from(wire.inputs).map_err(|_| shape_error)?;
    let classes = usize::try_from(wire.classes).map_err(|_| shape_error)?;
    if !(1..=MAX_INPUTS).contains(&inputs) || !(1..=MAX_CLASSES).contains(&classes) {
        return Err(shape_error);
    }

    let (weights, bias) = match wire.payload {
        Payload::F32 { weights, bias } => {
            check_len(Field::Weights, weights, classes * inputs * 4)?;
            check_finite(Field::Weights, weights)?;
            (Weights::F32(weights), bias)
        }
        Payload::Int8 { weights, scales, bias } => {
            check_len(Field::Weights, weights, classes * inputs)?;
            check_len(Field::Scales, scales, classes * 4)?;
            check_finite(Field::Scales, scales)?;
            if f32s(scales).any(|s| s < 0.0) {
                return Err(Error::InvalidValue { field: Field::Scales });
            }
            // Folds the input scaling p / 255 into the class scale, once, here.
            let mut pixel_scales = [0.0; MAX_CLASSES];
            for (pixel_scale, scale) in pixel_scales.iter_mut().zip(f32s(scales)) {
                *pixel_scale = scale / 255.0;
            }
            (Weights::Int8 { weights, pixel_scales }, bias)
        }
    };
    check_len(Field::Bias, bias, classes * 4)?;
    check_finite(Field::Bias, bias)?;
    let mut biases = [0.0; MAX_CLASSES];
    biases.iter_mut().zip(f32s(bias)).for_each(|(b, v)| *b = v);
    Ok((Model::new(inputs, classes, weights, biases), rest))
}

fn wire_error(error: postcard::Error) -> Error {
    match error {
        postcard::Error::DeserializeUnexpectedEnd => Error::Truncated,
        _ => Error::Malformed,
    }
}

fn check_len(field: Field, bytes: &[u8], expected: usize) -> Result<(), Error> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(Error::LengthMismatch { field, expected, found: bytes.len() })
    }
}

fn check_finite(field: Field, bytes: &[u8]) -> Result<(), Error> {
    if f32s(bytes).all(f32::is_finite) { Ok(()) } else { Err(Error::InvalidValue { field }) }
}

/// Reads little-endian f32s; a trailing partial value is ignored (lengths are checked first).
pub(crate) fn f32s(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The parameters of a model, as the trainer holds them, for [`encode`].
#[cfg(feature = "encode")]
#[derive(Debug, Clone, Copy)]
pub enum Params<'p> {
    /// Float weights.
    F32 {
        /// Input count `n`.
        inputs: usize,
        /// Class count `k`.
        classes: usize,
        /// `k*n` weights, row-major `[class][input]`.
        weights: &'p [f32],
        /// `k` biases.
        bias: &'p [f32],
    },
    /// int8 weights with one scale per class: `w[c][i] ~ weights[c][i] * scales[c]`.
    Int8 {
        /// Input count `n`.
        inputs: usize,
        /// Class count `k`.
        classes: usize,
        /// `k*n` quantized weights, row-major `[class][input]`.
        weights: &'p [i8],
        /// `k` scales.
        scales: &'p [f32],
        /// `k` biases.
        bias: &'p [f32],
    },
}

/// Encodes a blob, then decodes it to validate it with exactly the device's checks, so that
/// nothing is written that a device would reject.
///
/// ```
/// use infer_core::{Model, Scheme, blob::{Params, encode}};
///
/// let blob = encode(&Params::F32 { inputs: 2, classes: 3, weights: &[0.5; 6], bias: &[0.0; 3] })?;
/// assert_eq!(Model::from_blob(&blob)?.scheme(), Scheme::F32);
/// # Ok::<(), infer_core::Error>(())
/// ```
#[cfg(feature = "encode")]
pub fn encode(params: &Params<'_>) -> Result<alloc::vec::Vec<u8>, Error> {
    use alloc::vec::Vec;

    fn le_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
    let (inputs, classes, payload_bytes) = match *params {
        Params::F32 { inputs, classes, weights, bias } => {
            (inputs, classes, [le_bytes(weights), Vec::new(), le_bytes(bias)])
        }
        Params::Int8 { inputs, classes, weights, scales, bias } => {
            let q = weights.iter().map(|w| w.to_le_bytes()[0]).collect();
            (inputs, classes, [q, le_bytes(scales), le_bytes(bias)])
        }
    };
    let [weights, scales, bias] = &payload_bytes;
    let payload = match params {
        Params::F32 { .. } => Payload::F32 { weights, bias },
        Params::Int8 { .. } => Payload::Int8 { weights, scales, bias },
    };
    let dim = |d: usize| u32::try_from(d).unwrap_or(u32::MAX);
    let wire = Wire {
        header: Header { magic: MAGIC, version: FORMAT_VERSION },
        inputs: dim(inputs),
        classes: dim(classes),
        payload,
    };
    let mut bytes = postcard::to_allocvec(&wire).map_err(|_| Error::Malformed)?;
    bytes.extend_from_slice(&CRC32.checksum(&bytes).to_le_bytes());
    decode(&bytes)?;
    Ok(bytes)
}
