//! Signed envelopes: the happy path, and refusal of every forged, damaged or rolled-back one.

use ed25519_dalek::SigningKey;
use infer_core::blob::{Params, encode};
use infer_core::signed::{self, HEADER_LEN, SIGNATURE_LEN, open, open_prefix, seal};
use infer_core::{Error, Model};
use proptest::prelude::*;

const COUNTER: u32 = 7;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn public(seed: u8) -> [u8; 32] {
    key(seed).verifying_key().to_bytes()
}

/// A small blob, so that every bit of its envelope can be flipped in a test.
fn small_blob() -> Vec<u8> {
    encode(&Params::Int8 {
        inputs: 4,
        classes: 2,
        weights: &[1, -2, 3, -4, 5, -6, 7, -8],
        scales: &[0.5, 0.25],
        bias: &[1.0, -2.0],
    })
    .unwrap()
}

/// A full-size MNIST blob (784 x 10).
fn mnist_blob() -> Vec<u8> {
    let weights: Vec<i8> = (0..7840).map(|i| (i % 251) as i8).collect();
    encode(&Params::Int8 {
        inputs: 784,
        classes: 10,
        weights: &weights,
        scales: &[0.01; 10],
        bias: &[0.5; 10],
    })
    .unwrap()
}

#[test]
fn sealed_blob_opens_with_its_key_and_decodes() {
    let blob = mnist_blob();
    let envelope = seal(&blob, COUNTER, &key(1));
    assert_eq!(envelope.len(), HEADER_LEN + blob.len() + SIGNATURE_LEN);
    assert_eq!(&envelope[..4], b"ICSG");

    let verified = open(&envelope, &public(1), COUNTER).unwrap();
    assert_eq!(verified, signed::Verified { counter: COUNTER, blob: &blob });
    let model = Model::from_blob(verified.blob).unwrap();
    assert_eq!(
        model.predict(&[255; 784]).unwrap(),
        Model::from_blob(&blob).unwrap().predict(&[255; 784]).unwrap()
    );
    // A newer envelope is accepted by a device at an older counter.
    assert_eq!(open(&envelope, &public(1), 0).unwrap().counter, COUNTER);
}

#[test]
fn another_key_is_refused() {
    let envelope = seal(&small_blob(), COUNTER, &key(1));
    assert_eq!(open(&envelope, &public(2), 0), Err(Error::BadSignature));
    // Re-signing tampered content with another key does not help either.
    assert_eq!(
        open(&seal(&small_blob(), COUNTER, &key(2)), &public(1), 0),
        Err(Error::BadSignature)
    );
}

#[test]
fn every_flipped_bit_is_refused() {
    let envelope = seal(&small_blob(), COUNTER, &key(1));
    for bit in 0..envelope.len() * 8 {
        let mut damaged = envelope.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        let result = open(&damaged, &public(1), 0);
        assert!(result.is_err(), "bit {bit} flipped, still accepted: {result:?}");
    }
}

#[test]
fn every_truncation_is_refused() {
    let envelope = seal(&small_blob(), COUNTER, &key(1));
    for len in 0..envelope.len() {
        assert_eq!(open(&envelope[..len], &public(1), 0), Err(Error::Truncated), "{len} bytes");
    }
}

#[test]
fn rollback_is_refused_only_below_the_minimum() {
    let envelope = seal(&small_blob(), COUNTER, &key(1));
    assert_eq!(
        open(&envelope, &public(1), COUNTER + 1),
        Err(Error::Rollback { counter: COUNTER, minimum: COUNTER + 1 })
    );
    assert_eq!(
        open(&envelope, &public(1), u32::MAX),
        Err(Error::Rollback { counter: COUNTER, minimum: u32::MAX })
    );
    assert!(open(&envelope, &public(1), COUNTER).is_ok());
}

#[test]
fn raising_the_counter_breaks_the_signature() {
    let mut envelope = seal(&small_blob(), COUNTER, &key(1));
    envelope[8..12].copy_from_slice(&(COUNTER + 100).to_le_bytes());
    assert_eq!(open(&envelope, &public(1), COUNTER + 1), Err(Error::BadSignature));
}

#[test]
fn plain_blobs_and_other_bytes_are_told_apart() {
    assert_eq!(open(&small_blob(), &public(1), 0), Err(Error::Unsigned));
    assert_eq!(open(&[0xFF; 64], &public(1), 0), Err(Error::BadMagic));
    let mut envelope = seal(&small_blob(), COUNTER, &key(1));
    envelope[4] = 2;
    assert_eq!(open(&envelope, &public(1), 0), Err(Error::UnsupportedEnvelopeVersion(2)));
}

#[test]
fn region_holds_the_envelope_then_erased_flash() {
    let envelope = seal(&small_blob(), COUNTER, &key(1));
    let mut region = envelope.clone();
    region.resize(4096, 0xFF);
    let (verified, rest) = open_prefix(&region, &public(1), 0).unwrap();
    assert_eq!((verified.blob, rest.len()), (&small_blob()[..], 4096 - envelope.len()));
    assert_eq!(open(&region, &public(1), 0), Err(Error::TrailingBytes));
}

#[test]
fn invalid_public_key_is_an_error() {
    let envelope = seal(&small_blob(), COUNTER, &key(1));
    // Not the encoding of a curve point (y = 2^255 - 1 is not canonical).
    let mut not_a_point = [0xFF; 32];
    not_a_point[31] = 0x7F;
    assert!(matches!(
        open(&envelope, &not_a_point, 0),
        Err(Error::BadPublicKey | Error::BadSignature)
    ));
}

proptest! {
    #[test]
    fn any_flipped_bit_of_a_full_size_envelope_is_refused(bit in 0..(HEADER_LEN + 7900) * 8) {
        let mut envelope = seal(&mnist_blob(), COUNTER, &key(1));
        let bit = bit % (envelope.len() * 8);
        envelope[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(open(&envelope, &public(1), 0).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_verify(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(open(&bytes, &public(1), 0).is_err());
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_verify(
        counter in any::<u32>(),
        len in 0u32..100,
        tail in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = b"ICSG\x01\0\0\0".to_vec();
        bytes.extend_from_slice(&counter.to_le_bytes());
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(&tail);
        prop_assert!(open_prefix(&bytes, &public(1), 0).is_err());
    }
}
