use core::fmt;

use crate::values::{MAX_CLASSES, MAX_INPUTS};

/// Everything that can go wrong decoding a blob or running a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
// A word-sized tag puts every field at a word boundary: copies of an error then never combine
// bytes into unaligned loads, which fault on cores that trap them (the firmware checks).
#[repr(u32)]
pub enum Error {
    /// The bytes end before the blob does: a cut-off transfer, or a corrupted length field.
    Truncated,
    /// The bytes do not start with the blob magic `ICBL`: this is not a weights blob.
    BadMagic,
    /// The blob has a format version this build cannot read.
    UnsupportedVersion(u16),
    /// The CRC-32 stored at the end does not match the bytes: the blob was corrupted.
    ChecksumMismatch,
    /// The bytes are not a valid encoding (bad varint, unknown scheme tag).
    Malformed,
    /// A blob of a scheme (by its tag: 0 f32, 1 int8, 2 int4) that this build leaves out
    /// (infer-core's features `f32`, `int8`, `int4`).
    SchemeNotBuilt(u32),
    /// Bytes follow the blob's CRC-32.
    TrailingBytes,
    /// Zero inputs or classes, more than [`MAX_INPUTS`] inputs or more than
    /// [`MAX_CLASSES`] classes.
    UnsupportedShape {
        /// Inputs the blob declares.
        inputs: u32,
        /// Classes the blob declares.
        classes: u32,
    },
    /// An array's byte length does not match the declared dimensions.
    LengthMismatch {
        /// Which array.
        field: Field,
        /// Bytes the dimensions call for.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// A weight, scale or bias is NaN or infinite, a scale is negative, or an int4 rule is
    /// broken: a scale of 0 for a row that is not all zeros, or an odd row's unused nibble set.
    InvalidValue {
        /// Which array holds the value.
        field: Field,
    },
    /// The input does not have one value per model input.
    InputLength {
        /// The model's input count.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// Float inputs were given to a quantized (int8 or int4) model, which takes raw `u8` pixels.
    SchemeMismatch,
    /// A float input holds a NaN or an infinity.
    InvalidInput,
    /// Logits are empty or hold a NaN, so no class or probability is defined.
    InvalidLogits,
    /// A plain blob where a [signed envelope](crate::signed) is required.
    #[cfg(feature = "signed")]
    Unsigned,
    /// A signed envelope version this build cannot read.
    #[cfg(feature = "signed")]
    UnsupportedEnvelopeVersion(u8),
    /// The public key is not a valid Ed25519 point.
    #[cfg(feature = "signed")]
    BadPublicKey,
    /// The signature does not match the bytes and key: tampered, corrupted or another key's.
    #[cfg(feature = "signed")]
    BadSignature,
    /// Validly signed, but older than what the device runs.
    #[cfg(feature = "signed")]
    Rollback {
        /// The envelope's security counter.
        counter: u32,
        /// The lowest counter the device accepts.
        minimum: u32,
    },
}

/// The arrays of a blob, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Field {
    /// The `[classes][inputs]` weight matrix.
    Weights,
    /// The per-class weight scales of a quantized model.
    Scales,
    /// The per-class bias.
    Bias,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Weights => "weights",
            Field::Scales => "scales",
            Field::Bias => "bias",
        })
    }
}

// The shape message states the limits literally.
const _: () = assert!(MAX_CLASSES == 16 && MAX_INPUTS == 65_536, "update the shape message");

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated => f.write_str("blob is truncated (or a length field is corrupted)"),
            Error::BadMagic => f.write_str("not a weights blob (magic `ICBL` missing)"),
            // As a u32, whose formatting code a firmware already has more often than u16's.
            Error::UnsupportedVersion(v) => {
                write!(f, "blob format version {} is not supported by this build", u32::from(v))
            }
            Error::ChecksumMismatch => f.write_str("blob CRC-32 mismatch: the bytes are corrupted"),
            Error::Malformed => f.write_str("blob is malformed (invalid encoding)"),
            Error::SchemeNotBuilt(tag) => {
                write!(f, "blob scheme {tag} (0 f32, 1 int8, 2 int4) is not built in")
            }
            Error::TrailingBytes => f.write_str("unexpected bytes after the blob's CRC-32"),
            // The limits written out: formatting them would cost code (see the assertion).
            Error::UnsupportedShape { inputs, classes } => write!(
                f,
                "unsupported shape {classes} classes x {inputs} inputs (1..=16 classes, 1..=65536 inputs)"
            ),
            Error::LengthMismatch { field, expected, found } => {
                write!(f, "{field} hold {found} bytes, the shape calls for {expected}")
            }
            Error::InvalidValue { field } => {
                write!(
                    f,
                    "{field} hold a value the format forbids (not finite, a negative scale, an int4 rule)"
                )
            }
            Error::InputLength { expected, found } => {
                write!(f, "input has {found} values, the model takes {expected}")
            }
            Error::SchemeMismatch => {
                f.write_str("a quantized model takes raw u8 pixels, not normalized floats")
            }
            Error::InvalidInput => f.write_str("input holds a NaN or infinite value"),
            Error::InvalidLogits => f.write_str("logits are empty or hold a NaN"),
            #[cfg(feature = "signed")]
            Error::Unsigned => {
                f.write_str("blob is not signed, and this device requires a signature")
            }
            #[cfg(feature = "signed")]
            Error::UnsupportedEnvelopeVersion(v) => {
                write!(f, "signed envelope version {v} is not supported by this build")
            }
            #[cfg(feature = "signed")]
            Error::BadPublicKey => f.write_str("the public key is not a valid Ed25519 key"),
            #[cfg(feature = "signed")]
            Error::BadSignature => f.write_str(
                "signature check failed: tampered, corrupted or signed with another key",
            ),
            #[cfg(feature = "signed")]
            Error::Rollback { counter, minimum } => {
                write!(f, "rollback refused: security counter {counter} is below {minimum}")
            }
        }
    }
}

impl core::error::Error for Error {}
