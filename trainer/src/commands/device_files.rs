//! The device files `train` and `export` write: the f32, int8 and int4 blobs, and with
//! `--signing-key` their signed envelopes.

use std::path::{Path, PathBuf};

use clap::Args;
use ed25519_dalek::SigningKey;
use trainer::file_names::{
    F32_BLOB_FILE, F32_SIGNED_FILE, INT4_BLOB_FILE, INT4_SIGNED_FILE, INT8_BLOB_FILE,
    INT8_SIGNED_FILE,
};
use trainer::model::{FloatModel, Int4Model, QuantizedModel};
use trainer::signing;

/// Signed device blobs, for firmware built with a public key.
#[derive(Args)]
pub struct SigningArgs {
    /// Also write model.f32.signed, model.int8.signed and model.int4.signed, signed with this
    /// Ed25519 private key
    /// (PKCS#8 PEM, from `trainer keygen`).
    #[arg(long, value_name = "FILE", requires = "counter")]
    pub signing_key: Option<PathBuf>,
    /// Security counter in the signed blobs: devices refuse blobs below the counter they run
    /// (rollback). Raise it for every release.
    #[arg(long, value_name = "N", requires = "signing_key")]
    pub counter: Option<u32>,
}

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
}

/// A model's device files, made once for `train` and `export` alike.
pub struct DeviceFiles {
    /// The blob with f32 weights.
    pub f32_blob: Vec<u8>,
    /// The blob with int8 weights: what `train` evaluates.
    pub int8_blob: Vec<u8>,
    /// The blob with int4 weights: what `train` evaluates too.
    pub int4_blob: Vec<u8>,
    /// The blobs sealed, f32, int8 then int4, when a signer was given.
    signed: Option<[Vec<u8>; 3]>,
}

impl DeviceFiles {
    /// Encodes the three models, and seals the blobs with `signer`.
    pub fn new(
        float: &FloatModel,
        int8: &QuantizedModel,
        int4: &Int4Model,
        signer: Option<&Signer>,
    ) -> Result<Self, infer_core::Error> {
        let (f32_blob, int8_blob, int4_blob) = (float.to_blob()?, int8.to_blob()?, int4.to_blob()?);
        let signed = signer.map(|s| {
            [&f32_blob, &int8_blob, &int4_blob]
                .map(|blob| infer_core::signed::seal(blob, s.counter, &s.key))
        });
        Ok(Self { f32_blob, int8_blob, int4_blob, signed })
    }

    /// The files to write in `out`, blobs first.
    pub fn into_files(self, out: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let blobs = [
            (F32_BLOB_FILE, self.f32_blob),
            (INT8_BLOB_FILE, self.int8_blob),
            (INT4_BLOB_FILE, self.int4_blob),
        ];
        let signed = self.signed.into_iter().flat_map(|[f32, int8, int4]| {
            [(F32_SIGNED_FILE, f32), (INT8_SIGNED_FILE, int8), (INT4_SIGNED_FILE, int4)]
        });
        blobs.into_iter().chain(signed).map(|(name, bytes)| (out.join(name), bytes)).collect()
    }
}
