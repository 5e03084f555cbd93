//! The weights blob: its byte layout, a validated view of it ([`Blob`]), and encoding
//! (feature `encode`).
//!
//! A blob is one [postcard](https://docs.rs/postcard) message followed by its CRC-32. Postcard
//! writes integers as *varints* (unsigned LEB128: 7 bits per byte, least significant group
//! first, high bit set on every byte but the last; here always the shortest form) and byte
//! arrays as a varint length followed by the bytes. Floats are IEEE-754 binary32,
//! little-endian. In order:
//!
//! | field            | encoding                 | value                                            |
//! |------------------|--------------------------|--------------------------------------------------|
//! | magic            | 4 raw bytes              | `ICBL` (`49 43 42 4C`)                           |
//! | format version   | varint (u16)             | [`FORMAT_VERSION`] (2)                           |
//! | inputs           | varint (u32)             | `n`: 784 for MNIST, at most [`MAX_INPUTS`]       |
//! | classes          | varint (u32)             | `k`: 10 for MNIST, at most [`MAX_CLASSES`]       |
//! | scheme           | varint (u32)             | `0` = f32, `1` = int8, `2` = int4                |
//! | per array: padding | varint length `p` + `p` bytes | zeros, `p` < 16: the one `p` that puts the array's first byte at a multiple of 16 bytes from the blob's start |
//! | per array: array | varint length + bytes    | the arrays below, in order                       |
//! | CRC-32           | 4 bytes, little-endian   | CRC-32/ISO-HDLC (as zlib's `crc32`) of every byte before it |
//!
//! The arrays:
//!
//! | scheme | array   | bytes    | values                                               |
//! |--------|---------|----------|------------------------------------------------------|
//! | f32    | weights | `k*n*4`  | f32, row-major `[class][input]`                      |
//! | f32    | bias    | `k*4`    | f32                                                  |
//! | int8   | weights | `k*n`    | i8 (two's complement), row-major `[class][input]`    |
//! | int8   | scales  | `k*4`    | f32, one per class, >= 0                             |
//! | int8   | bias    | `k*4`    | f32                                                  |
//! | int4   | weights | `k*ceil(n/2)` | two 4-bit two's-complement values (-8..=7) per byte, row-major `[class][input]`, each row starting on a byte |
//! | int4   | scales  | `k*4`    | f32, one per class, >= 0                             |
//! | int4   | bias    | `k*4`    | f32                                                  |
//!
//! In an int4 row, byte `j` holds input `2j` in its low nibble (bits 0-3) and input `2j + 1` in
//! its high nibble (bits 4-7); with an odd `n` the last byte's high nibble is 0. Every nibble
//! value is a valid weight. An int4 scale is 0 only for a row of zero weights, so a model has
//! one encoding.
//!
//! Every value is finite. Nothing follows the CRC. The padding makes every array 16-byte
//! aligned when the blob is (in flash, or in a signed envelope, whose header is 16 bytes), so
//! a device reads weights with aligned word loads, also on cores that fault on unaligned ones.
//! Its length and contents are fixed by the rest, so every model has exactly one encoding.
//!
//! On a device that takes updates, blobs live in the two slots of a model store, whose
//! headers the `store` module documents (feature `store`).
//!
//! Version 1, still read (devices in the field hold it), is the same without the padding
//! fields: each array's length follows the previous array directly.
//!
//! In postcard's terms, a version 2 blob is a struct `{ magic: [u8; 4], version: u16, inputs:
//! u32, classes: u32, arrays: Arrays }` with `enum Arrays { F32 { pad, weights, pad_bias, bias },
//! Int8 { pad, weights, pad_scales, scales, pad_bias, bias }, Int4 { /* as Int8 */ } }`, every
//! array a `&[u8]`. The
//! decoder reads it without serde: it needs each array's offset, and much less flash.
//!
//! The float model computes `logit[c] = sum_i w[c][i] * x[i] + bias[c]` with `x[i] = p[i] / 255`
//! for a pixel `p[i]`. The int8 and int4 models approximate `w[c][i]` by `q[c][i] * scale[c]` and compute
//! `logit[c] = (sum_i q[c][i] * p[i]) as f32 * (scale[c] / 255) + bias[c]`: the sum is exact in
//! an i32, then one f32 division, multiply and add, all IEEE-754 round-to-nearest, so every
//! target gets the same bits.
//!
//! [`MAX_INPUTS`]: crate::MAX_INPUTS
//! [`MAX_CLASSES`]: crate::MAX_CLASSES

use crate::values::f32s;
use crate::{Error, Field, MAX_CLASSES, MAX_INPUTS};

/// The first four bytes of every blob.
pub const MAGIC: [u8; 4] = *b"ICBL";

/// The layout version this build writes, and the newest it reads.
pub const FORMAT_VERSION: u16 = 2;

/// The oldest layout version this build reads.
pub const OLDEST_FORMAT_VERSION: u16 = 1;

/// From version 2 on, every array starts at a multiple of this many bytes from the blob's start.
pub const ALIGNMENT: usize = 16;

/// How the weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Scheme {
    /// IEEE-754 binary32 weights.
    F32,
    /// int8 weights with one f32 scale per class; integer dot product with raw pixels.
    Int8,
    /// int4 weights (two per byte) with one f32 scale per class; integer dot product with raw
    /// pixels.
    Int4,
}

/// The arrays of a validated blob: little-endian bytes, borrowed where the blob is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Arrays<'a> {
    /// Float weights (feature `f32`).
    #[cfg(feature = "f32")]
    F32 {
        /// `k*n` f32, row-major `[class][input]`.
        weights: &'a [u8],
        /// `k` f32.
        bias: &'a [u8],
    },
    /// int8 weights with one scale per class (feature `int8`).
    #[cfg(feature = "int8")]
    Int8 {
        /// `k*n` i8, row-major `[class][input]`.
        weights: &'a [u8],
        /// `k` f32, each >= 0.
        scales: &'a [u8],
        /// `k` f32.
        bias: &'a [u8],
    },
    /// int4 weights with one scale per class (feature `int4`).
    #[cfg(feature = "int4")]
    Int4 {
        /// `k` rows of `ceil(n/2)` bytes, two weights per byte (low nibble first).
        weights: &'a [u8],
        /// `k` f32, each >= 0, and 0 only for an all-zero row.
        scales: &'a [u8],
        /// `k` f32.
        bias: &'a [u8],
    },
}

/// A blob whose layout, CRC-32, shape, array lengths and values were all checked: what
/// [`Model`](crate::Model) is built from, and what host tools show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blob<'a> {
    version: u16,
    inputs: usize,
    classes: usize,
    arrays: Arrays<'a>,
}

impl<'a> Blob<'a> {
    /// Validates a blob that fills `bytes` exactly.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        match Self::parse_prefix(bytes)? {
            (blob, []) => Ok(blob),
            _ => Err(Error::TrailingBytes),
        }
    }

    /// Validates the blob at the start of `bytes` (a flash partition, say); returns it and the
    /// bytes after its CRC-32.
    pub fn parse_prefix(bytes: &'a [u8]) -> Result<(Self, &'a [u8]), Error> {
        let mut reader = Reader { rest: bytes, at: 0, stop: None };
        let version = reader.header()?;
        let (inputs, classes) = (reader.varint(u32::MAX), reader.varint(u32::MAX));
        let arrays = reader.arrays(version);
        reader.checked()?;
        let arrays = arrays.ok_or(Error::Malformed)?; // `None` only with a problem recorded
        let message = bytes.split_at_checked(reader.at).ok_or(Error::Truncated)?.0;
        let (stored, rest) = reader.rest.split_first_chunk::<4>().ok_or(Error::Truncated)?;
        if crc32(message) != u32::from_le_bytes(*stored) {
            return Err(Error::ChecksumMismatch);
        }
        let (inputs, classes) = shape(inputs, classes)?;
        let blob = Self { version, inputs, classes, arrays };
        blob.check_arrays()?;
        Ok((blob, rest))
    }

    /// The layout version the blob was written in.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Values per input `n`.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Classes `k`.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// How the weights are stored.
    pub fn scheme(&self) -> Scheme {
        match self.arrays {
            #[cfg(feature = "f32")]
            Arrays::F32 { .. } => Scheme::F32,
            #[cfg(feature = "int8")]
            Arrays::Int8 { .. } => Scheme::Int8,
            #[cfg(feature = "int4")]
            Arrays::Int4 { .. } => Scheme::Int4,
        }
    }

    /// The arrays.
    pub fn arrays(&self) -> Arrays<'a> {
        self.arrays
    }

    fn check_arrays(&self) -> Result<(), Error> {
        let (k, n) = (self.classes, self.inputs);
        let bias = match self.arrays {
            #[cfg(feature = "f32")]
            Arrays::F32 { weights, bias } => {
                check_floats(Field::Weights, weights, k * n * 4, f32::MIN)?;
                bias
            }
            #[cfg(feature = "int8")]
            Arrays::Int8 { weights, scales, bias } => {
                check_len(Field::Weights, weights, k * n)?;
                check_floats(Field::Scales, scales, k * 4, 0.0)?;
                bias
            }
            #[cfg(feature = "int4")]
            Arrays::Int4 { weights, scales, bias } => {
                check_len(Field::Weights, weights, k * n.div_ceil(2))?;
                check_floats(Field::Scales, scales, k * 4, 0.0)?;
                check_int4_rows(weights, scales, n)?;
                bias
            }
        };
        check_floats(Field::Bias, bias, k * 4, f32::MIN)
    }
}

/// Why a [`Reader`] stopped.
#[derive(Clone, Copy)]
enum Stop {
    Truncated,
    Malformed,
    /// A scheme this build leaves out, by its tag.
    SchemeNotBuilt(u32),
}

impl From<Stop> for Error {
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::Truncated => Error::Truncated,
            Stop::Malformed => Error::Malformed,
            Stop::SchemeNotBuilt(tag) => Error::SchemeNotBuilt(tag),
        }
    }
}

/// Reads a message front to back. The first problem is kept in `stop`, and reads after it
/// return zero or empty slices: callers read on and check once, with [`Reader::checked`],
/// rather than branching on a result after every field (much less code on small cores).
struct Reader<'a> {
    /// What is still to read.
    rest: &'a [u8],
    /// Bytes read so far: the offset of `rest` in the blob.
    at: usize,
    /// The first problem met, if any.
    stop: Option<Stop>,
}

impl<'a> Reader<'a> {
    /// Records a problem, unless an earlier one was recorded: that one is the error.
    fn fail(&mut self, stop: Stop) {
        self.stop.get_or_insert(stop);
    }

    /// The error of the first problem met, if any.
    fn checked(&self) -> Result<(), Error> {
        self.stop.map_or(Ok(()), |stop| Err(stop.into()))
    }

    fn take(&mut self, len: usize) -> &'a [u8] {
        let Some((taken, rest)) = self.rest.split_at_checked(len) else {
            self.fail(Stop::Truncated);
            return &[];
        };
        (self.rest, self.at) = (rest, self.at + len);
        taken
    }

    /// `len` bytes, for a length read from the blob (too long for `usize` is truncated).
    fn take_u32(&mut self, len: u32) -> &'a [u8] {
        match usize::try_from(len) {
            Ok(len) => self.take(len),
            Err(_) => {
                self.fail(Stop::Truncated);
                &[]
            }
        }
    }

    /// Magic and version, checked first so that a foreign file or a newer format gets a
    /// precise error rather than a checksum failure.
    fn header(&mut self) -> Result<u16, Error> {
        // As far as there are bytes, byte by byte: a slice comparison would link `memcmp`.
        if !self.rest.iter().zip(&MAGIC).all(|(b, m)| b == m) {
            return Err(Error::BadMagic);
        }
        self.take(MAGIC.len()); // a blob cut inside its magic is truncated, reported below
        let version = self.varint(u16::MAX.into()) as u16;
        self.checked()?;
        if (OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            Ok(version)
        } else {
            Err(Error::UnsupportedVersion(version))
        }
    }

    /// A varint of at most `max`, which is `2^m - 1`; longer than needed is malformed.
    fn varint(&mut self, max: u32) -> u32 {
        let (mut value, mut shift) = (0, 0);
        while shift < 32 {
            let Some(&byte) = self.take(1).first() else { return 0 };
            let group = u32::from(byte & 0x7F);
            if group > max >> shift || (shift > 0 && byte == 0) {
                break;
            }
            value |= group << shift;
            if byte & 0x80 == 0 {
                return value;
            }
            shift += 7;
        }
        self.fail(Stop::Malformed);
        0
    }

    fn bytes(&mut self) -> &'a [u8] {
        let len = self.varint(u32::MAX);
        self.take_u32(len)
    }

    /// The scheme tag and the scheme's arrays (fields are evaluated in the order written);
    /// `None` for a tag this build does not read, recorded as the problem.
    fn arrays(&mut self, version: u16) -> Option<Arrays<'a>> {
        let tag = self.varint(u32::MAX);
        Some(match tag {
            #[cfg(feature = "f32")]
            0 => Arrays::F32 { weights: self.array(version), bias: self.array(version) },
            #[cfg(feature = "int8")]
            1 => Arrays::Int8 {
                weights: self.array(version),
                scales: self.array(version),
                bias: self.array(version),
            },
            #[cfg(feature = "int4")]
            2 => Arrays::Int4 {
                weights: self.array(version),
                scales: self.array(version),
                bias: self.array(version),
            },
            #[allow(unreachable_patterns)] // reached when a scheme is left out
            0..=2 => {
                self.fail(Stop::SchemeNotBuilt(tag));
                return None;
            }
            _ => {
                self.fail(Stop::Malformed);
                return None;
            }
        })
    }

    /// An array, after its padding from version 2 on.
    fn array(&mut self, version: u16) -> &'a [u8] {
        if version == 1 {
            return self.bytes();
        }
        let padding = self.bytes();
        let len = self.varint(u32::MAX);
        if padding.len() >= ALIGNMENT
            || padding.iter().any(|&b| b != 0)
            || !self.at.is_multiple_of(ALIGNMENT)
        {
            self.fail(Stop::Malformed);
        }
        self.take_u32(len)
    }
}

fn shape(inputs: u32, classes: u32) -> Result<(usize, usize), Error> {
    match (usize::try_from(inputs), usize::try_from(classes)) {
        (Ok(n @ 1..=MAX_INPUTS), Ok(k @ 1..=MAX_CLASSES)) => Ok((n, k)),
        _ => Err(Error::UnsupportedShape { inputs, classes }),
    }
}

fn check_len(field: Field, bytes: &[u8], expected: usize) -> Result<(), Error> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(Error::LengthMismatch { field, expected, found: bytes.len() })
    }
}

/// Length, then that every value is finite and at least `min`.
fn check_floats(field: Field, bytes: &[u8], expected: usize, min: f32) -> Result<(), Error> {
    check_len(field, bytes, expected)?;
    let valid = |v: f32| (min..=f32::MAX).contains(&v);
    if f32s(bytes).all(valid) { Ok(()) } else { Err(Error::InvalidValue { field }) }
}

/// The int4 rules beyond lengths and values: with an odd `inputs`, each row's unused last
/// nibble is 0; a scale of 0 only for a row of zeros.
fn check_int4_rows(weights: &[u8], scales: &[u8], inputs: usize) -> Result<(), Error> {
    let stride = inputs.div_ceil(2);
    for (c, scale) in f32s(scales).enumerate() {
        let row = weights.get(c * stride..(c + 1) * stride).unwrap_or_default();
        if !inputs.is_multiple_of(2) && row.last().is_some_and(|&b| b >> 4 != 0) {
            return Err(Error::InvalidValue { field: Field::Weights });
        }
        if scale == 0.0 && row.iter().any(|&b| b != 0) {
            return Err(Error::InvalidValue { field: Field::Scales });
        }
    }
    Ok(())
}

/// CRC-32/ISO-HDLC, the checksum of blobs, slot headers and link frames; bit by bit: no lookup
/// table in flash.
pub fn crc32(bytes: &[u8]) -> u32 {
    !crc32_update(!0, bytes)
}

/// Feeds `bytes` to a running CRC-32 register (`!0` to start, inverted at the end), for data
/// that arrives in pieces.
pub(crate) fn crc32_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &byte in bytes {
        crc ^= u32::from(byte);
        // Tested at the bottom: at opt-level "z" a `for` loop keeps a test and a jump per bit.
        let mut bits = 8;
        loop {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            bits -= 1;
            if bits == 0 {
                break;
            }
        }
    }
    crc
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
    /// int4 weights with one scale per class: `w[c][i] ~ weights[c][i] * scales[c]`.
    Int4 {
        /// Input count `n`.
        inputs: usize,
        /// Class count `k`.
        classes: usize,
        /// `k*n` quantized weights, each in -8..=7, row-major `[class][input]` (one per
        /// value: `encode` packs them two per byte).
        weights: &'p [i8],
        /// `k` scales.
        scales: &'p [f32],
        /// `k` biases.
        bias: &'p [f32],
    },
}

/// Encodes a blob in the current [`FORMAT_VERSION`], then validates it with exactly the
/// device's checks, so that nothing is written that a device would reject.
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

    fn varint(mut value: usize, out: &mut Vec<u8>) {
        while value >= 0x80 {
            out.push(value as u8 | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }
    fn le_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
    let (inputs, classes, scheme, arrays) = match *params {
        Params::F32 { inputs, classes, weights, bias } => {
            (inputs, classes, 0, alloc::vec![le_bytes(weights), le_bytes(bias)])
        }
        Params::Int8 { inputs, classes, weights, scales, bias } => {
            let q = weights.iter().map(|w| w.to_le_bytes()[0]).collect();
            (inputs, classes, 1, alloc::vec![q, le_bytes(scales), le_bytes(bias)])
        }
        Params::Int4 { inputs, classes, weights, scales, bias } => {
            let q = pack_int4(weights, inputs, classes)?;
            (inputs, classes, 2, alloc::vec![q, le_bytes(scales), le_bytes(bias)])
        }
    };
    let mut out = MAGIC.to_vec();
    for field in [FORMAT_VERSION.into(), inputs, classes, scheme] {
        varint(field, &mut out);
    }
    for array in &arrays {
        let mut len = Vec::new();
        varint(array.len(), &mut len);
        // The padding's own length is one byte, as it is below 16.
        let padding = (ALIGNMENT - (out.len() + 1 + len.len()) % ALIGNMENT) % ALIGNMENT;
        out.push(padding as u8);
        out.resize(out.len() + padding, 0);
        out.extend_from_slice(&len);
        out.extend_from_slice(array);
    }
    out.extend_from_slice(&crc32(&out).to_le_bytes());
    Blob::parse(&out)?;
    Ok(out)
}

/// Packs int4 values row by row, two per byte, low nibble first (see the [layout](self)).
#[cfg(feature = "encode")]
fn pack_int4(weights: &[i8], inputs: usize, classes: usize) -> Result<alloc::vec::Vec<u8>, Error> {
    if weights.len() != inputs * classes {
        let (expected, found) = (inputs * classes, weights.len());
        return Err(Error::LengthMismatch { field: Field::Weights, expected, found });
    }
    if !weights.iter().all(|w| (-8..=7).contains(w)) {
        return Err(Error::InvalidValue { field: Field::Weights });
    }
    let nibble = |w: i8| w as u8 & 0x0F;
    let pair = |pair: &[i8]| pair.iter().rev().fold(0, |byte, &w| byte << 4 | nibble(w));
    Ok(weights.chunks(inputs.max(1)).flat_map(|row| row.chunks(2).map(pair)).collect())
}
