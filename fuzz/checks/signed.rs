//! What must hold for any bytes given to infer-core as a signed envelope: nothing panics, and
//! nothing verifies but an envelope honestly signed with the trusted key (a fuzzer cannot forge
//! one), with its counter at least the minimum; the blob inside then decodes or gets a typed
//! error.
//!
//! Shared, by `#[path]`, by the fuzz target `fuzz/fuzz_targets/signed.rs` and by the replay test
//! `infer-core/tests/fuzz_replay.rs`. The seeds in `fuzz/seeds/signed` are signed with
//! [`KEY_SEED`].

use ed25519_dalek::SigningKey;
use infer_core::signed::{Envelope, open_prefix, seal};
use infer_core::{Error, Model};

/// The private key of the seeds (a test key: never trust it anywhere).
pub const KEY_SEED: [u8; 32] = [42; 32];

/// Opens `data` with the seeds' public key at two minimum counters.
pub fn check(data: &[u8]) {
    let key = SigningKey::from_bytes(&KEY_SEED);
    let public = key.verifying_key().to_bytes();
    let parsed = Envelope::parse_prefix(data);
    for minimum in [0, 6, u32::MAX] {
        match open_prefix(data, &public, minimum) {
            Ok((verified, rest)) => {
                // Ed25519 signing is deterministic: an honest envelope is the only one that
                // verifies, byte for byte.
                let envelope = &data[..data.len() - rest.len()];
                assert_eq!(envelope, seal(verified.blob, verified.counter, &key).as_slice());
                assert!(verified.counter >= minimum);
                assert!(
                    matches!(parsed, Ok((e, r)) if e.unverified_blob == verified.blob && r == rest)
                );
                let _ = Model::from_blob(verified.blob).map(|m| m.classify(&[0; 784]));
            }
            Err(Error::Rollback { counter, minimum: m }) => {
                assert!(counter < m && m == minimum);
                assert!(matches!(parsed, Ok((e, _)) if e.counter == counter));
            }
            // Refused before the signature: exactly what parsing refuses.
            Err(
                error @ (Error::Truncated
                | Error::BadMagic
                | Error::Unsigned
                | Error::Malformed
                | Error::UnsupportedEnvelopeVersion(_)),
            ) => {
                assert_eq!(parsed.err(), Some(error));
            }
            Err(error) => {
                assert_eq!(error, Error::BadSignature);
                assert!(parsed.is_ok());
            }
        }
    }
}
