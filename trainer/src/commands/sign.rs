//! `--signing-key`/`--counter` of `train` and `export`: signed envelopes of the device blobs.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use trainer::{export, signing};

use crate::SigningArgs;

/// The key and counter to sign with, read before any work so a bad key fails fast.
pub struct Signer {
    key: SigningKey,
    counter: u32,
}

impl Signer {
    /// `None` when no `--signing-key` was given.
    pub fn from_args(args: &SigningArgs) -> anyhow::Result<Option<Self>> {
        let (Some(path), Some(counter)) = (&args.signing_key, args.counter) else {
            return Ok(None);
        };
        Ok(Some(Self { key: signing::read_signing_key(path)?, counter }))
    }

    /// The signed files for the f32 and int8 blobs, to write in `out`.
    pub fn sign(&self, out: &Path, f32_blob: &[u8], int8_blob: &[u8]) -> [(PathBuf, Vec<u8>); 2] {
        let seal = |blob| infer_core::signed::seal(blob, self.counter, &self.key);
        [
            (out.join(export::F32_SIGNED_FILE), seal(f32_blob)),
            (out.join(export::INT8_SIGNED_FILE), seal(int8_blob)),
        ]
    }
}
