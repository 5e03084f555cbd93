//! Signed blobs: an Ed25519 signature and a rollback counter around a [`blob`](crate::blob).
//!
//! A CRC-32 catches corruption, not forgery: anyone can compute it. A device that takes weights
//! over the air or from factory tooling checks instead that the owner of a private key signed
//! them, and that they are not older than what it runs (a rollback to weights with a known
//! flaw). The signature covers the header too, so the counter cannot be raised by an attacker.
//!
//! # Layout
//!
//! | offset     | size | field                                                        |
//! |------------|------|--------------------------------------------------------------|
//! | 0          | 4    | magic `ICSG`                                                 |
//! | 4          | 1    | envelope version, [`ENVELOPE_VERSION`]                       |
//! | 5          | 3    | zero (keeps the blob 4-byte aligned)                         |
//! | 8          | 4    | security counter, `u32` little-endian                        |
//! | 12         | 4    | blob length `n`, `u32` little-endian                         |
//! | 16         | `n`  | the blob, as [`blob`](crate::blob) specifies                 |
//! | 16 + `n`   | 64   | Ed25519 signature (RFC 8032) of bytes `0 .. 16 + n`          |
//!
//! Verification uses `verify_strict` (no small-order keys, canonical signatures only) and
//! happens before the blob is decoded, so unsigned bytes never reach the blob parser.
//!
//! ```
//! # fn main() -> Result<(), infer_core::Error> {
//! # let blob = infer_core::blob::encode(&infer_core::blob::Params::Int8 {
//! #     inputs: 784, classes: 10, weights: &[1; 7840], scales: &[0.01; 10], bias: &[0.0; 10],
//! # })?;
//! # let signing_key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! # let public_key = signing_key.verifying_key().to_bytes();
//! use infer_core::{Model, signed};
//!
//! let envelope = signed::seal(&blob, 3, &signing_key); // on the host, by the trainer
//! // On the device: `public_key` is compiled in, 3 comes from its monotonic counter.
//! let verified = signed::open(&envelope, &public_key, 3)?;
//! let model = Model::from_blob(verified.blob)?;
//! assert_eq!((verified.counter, model.classes()), (3, 10));
//! assert_eq!(signed::open(&envelope, &public_key, 4), Err(infer_core::Error::Rollback {
//!     counter: 3,
//!     minimum: 4,
//! }));
//! # Ok(())
//! # }
//! ```

use ed25519_dalek::{Signature, VerifyingKey};

use crate::Error;

/// The envelope magic: "infer-core signed".
pub const MAGIC: [u8; 4] = *b"ICSG";
/// The envelope version this build reads and writes.
pub const ENVELOPE_VERSION: u8 = 1;
/// Bytes before the blob.
pub const HEADER_LEN: usize = 16;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Bytes of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;

/// A signed envelope whose signature and counter were checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<'a> {
    /// The security counter the signer set; store it as the device's new minimum.
    pub counter: u32,
    /// The blob inside, still to be decoded with [`Model::from_blob`](crate::Model::from_blob).
    pub blob: &'a [u8],
}

/// Checks an envelope that fills `bytes` exactly: signed by `public_key`, counter at least
/// `minimum_counter`.
pub fn open<'a>(
    bytes: &'a [u8],
    public_key: &[u8; PUBLIC_KEY_LEN],
    minimum_counter: u32,
) -> Result<Verified<'a>, Error> {
    let (verified, rest) = open_prefix(bytes, public_key, minimum_counter)?;
    if rest.is_empty() { Ok(verified) } else { Err(Error::TrailingBytes) }
}

/// Like [`open`], for an envelope at the start of a larger region (a flash partition); also
/// returns the bytes after it.
pub fn open_prefix<'a>(
    bytes: &'a [u8],
    public_key: &[u8; PUBLIC_KEY_LEN],
    minimum_counter: u32,
) -> Result<(Verified<'a>, &'a [u8]), Error> {
    let (envelope, rest) = Envelope::parse_prefix(bytes)?;
    Ok((envelope.verify(public_key, minimum_counter)?, rest))
}

/// A parsed, not yet verified envelope: what host tools show (`trainer inspect`). A device
/// calls [`open`] or [`open_prefix`], which verify before anything is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The security counter, as claimed until verified.
    pub counter: u32,
    /// The blob, not yet authenticated.
    pub unverified_blob: &'a [u8],
    signed: &'a [u8],
    signature: &'a [u8; SIGNATURE_LEN],
}

impl<'a> Envelope<'a> {
    /// Parses the envelope at the start of `bytes`; returns it and the bytes after it.
    pub fn parse_prefix(bytes: &'a [u8]) -> Result<(Self, &'a [u8]), Error> {
        let header = bytes.first_chunk::<HEADER_LEN>().ok_or(Error::Truncated)?;
        // Read in aligned words: compared byte-wise, the three zero bytes after the version
        // became a halfword load at offset 5, which faults on cores that trap unaligned loads.
        let [magic, version, counter, blob_len] = header.as_chunks().0 else {
            return Err(Error::Truncated);
        };
        if *magic != MAGIC {
            let plain = *magic == crate::blob::MAGIC;
            return Err(if plain { Error::Unsigned } else { Error::BadMagic });
        }
        let version = u32::from_le_bytes(*version);
        if version as u8 != ENVELOPE_VERSION {
            return Err(Error::UnsupportedEnvelopeVersion(version as u8));
        }
        if version >> 8 != 0 {
            return Err(Error::Malformed);
        }
        let (counter, blob_len) = (u32::from_le_bytes(*counter), u32::from_le_bytes(*blob_len));
        let signed_len = usize::try_from(blob_len)
            .ok()
            .and_then(|n| n.checked_add(HEADER_LEN))
            .filter(|&n| n <= bytes.len())
            .ok_or(Error::Truncated)?;
        let (signed, rest) = bytes.split_at(signed_len);
        let (signature, rest) =
            rest.split_first_chunk::<SIGNATURE_LEN>().ok_or(Error::Truncated)?;
        let unverified_blob = &signed[HEADER_LEN..];
        Ok((Self { counter, unverified_blob, signed, signature }, rest))
    }

    /// Checks the signature against `public_key` (`verify_strict`), then the counter against
    /// `minimum_counter`.
    pub fn verify(
        &self,
        public_key: &[u8; PUBLIC_KEY_LEN],
        minimum_counter: u32,
    ) -> Result<Verified<'a>, Error> {
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| Error::BadPublicKey)?;
        key.verify_strict(self.signed, &Signature::from_bytes(self.signature))
            .map_err(|_| Error::BadSignature)?;
        // Only signed bytes decide anything past this point.
        if self.counter < minimum_counter {
            return Err(Error::Rollback { counter: self.counter, minimum: minimum_counter });
        }
        Ok(Verified { counter: self.counter, blob: self.unverified_blob })
    }
}

/// Wraps `blob` in a signed envelope with security counter `counter`.
///
/// # Panics
/// If `blob` is 4 GiB or longer, which no valid blob is.
#[cfg(feature = "encode")]
pub fn seal(
    blob: &[u8],
    counter: u32,
    signing_key: &ed25519_dalek::SigningKey,
) -> alloc::vec::Vec<u8> {
    use ed25519_dalek::Signer;

    let blob_len = u32::try_from(blob.len()).expect("a blob is shorter than 4 GiB");
    let mut envelope = alloc::vec::Vec::with_capacity(HEADER_LEN + blob.len() + SIGNATURE_LEN);
    envelope.extend_from_slice(&MAGIC);
    envelope.extend_from_slice(&[ENVELOPE_VERSION, 0, 0, 0]);
    envelope.extend_from_slice(&counter.to_le_bytes());
    envelope.extend_from_slice(&blob_len.to_le_bytes());
    envelope.extend_from_slice(blob);
    let signature = signing_key.sign(&envelope);
    envelope.extend_from_slice(&signature.to_bytes());
    envelope
}
