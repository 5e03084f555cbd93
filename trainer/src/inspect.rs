//! What a model file holds: kind, format version, scheme, shape, size, checksum, metadata.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use infer_core::Scheme;
use infer_core::blob::Blob;
use infer_core::signed::Envelope;
use serde::Serialize;

use crate::model_file::{Kind, ModelFile};
use crate::safetensors_file::{self as file, FileError};

/// The description of one model file.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The file.
    pub path: String,
    /// Blob, safetensors (float, int8 or int4) or PyTorch state dict.
    pub kind: Kind,
    /// File size.
    pub bytes: usize,
    /// Whether a device would accept it (blobs: magic, version, CRC-32, shape, values).
    pub valid: bool,
    /// `ok`, or what is wrong.
    pub status: String,
    /// Blob layout version, or the safetensors `format_version` metadata.
    pub format_version: Option<String>,
    /// `f32`, `int8` or `int4`.
    pub scheme: Option<&'static str>,
    /// Inputs per example.
    pub inputs: Option<usize>,
    /// Classes.
    pub classes: Option<usize>,
    /// Signed blobs only: the security counter.
    pub counter: Option<u32>,
    /// Signed blobs only: `verified with KEY`, `not checked` (no key given), or what failed.
    pub signature: Option<String>,
    /// Safetensors and PyTorch files only: name, dtype and shape of each tensor.
    pub tensors: Vec<(String, String, Vec<usize>)>,
    /// Safetensors only: the metadata (accuracy, training settings, data checksums).
    pub metadata: BTreeMap<String, String>,
}

/// Inspects a blob, signed blob, safetensors or PyTorch file. A damaged blob is described (not
/// valid, with the reason); a file that is none of these is an error. With `public_key`, a
/// signed blob's signature is verified (any counter accepted).
pub fn inspect(path: &Path, public_key: Option<&VerifyingKey>) -> Result<Inspection, FileError> {
    let bytes = file::read(path)?;
    let mut inspection = Inspection {
        path: path.display().to_string(),
        kind: Kind::Blob,
        bytes: bytes.len(),
        valid: true,
        status: "ok".into(),
        format_version: None,
        scheme: None,
        inputs: None,
        classes: None,
        counter: None,
        signature: None,
        tensors: Vec::new(),
        metadata: BTreeMap::new(),
    };
    let file = ModelFile::parse(path, &bytes)?;
    inspection.kind = file.kind();
    match file {
        ModelFile::Blob(blob) => describe_blob(&mut inspection, &blob),
        ModelFile::Signed(bytes) => match Envelope::parse_prefix(&bytes) {
            Ok((envelope, rest)) => {
                inspection.counter = Some(envelope.counter);
                describe_blob(&mut inspection, envelope.unverified_blob);
                if !rest.is_empty() {
                    inspection.valid = false;
                    inspection.status = infer_core::Error::TrailingBytes.to_string();
                }
                let verified = public_key.map(|key| envelope.verify(key.as_bytes(), 0));
                inspection.signature = Some(match verified {
                    None => "not checked (give --public-key FILE)".into(),
                    Some(Ok(_)) => "verified (Ed25519)".into(),
                    Some(Err(error)) => {
                        inspection.valid = false;
                        inspection.status = error.to_string();
                        error.to_string()
                    }
                });
            }
            Err(error) => {
                inspection.valid = false;
                inspection.status = error.to_string();
            }
        },
        ModelFile::Float(_, metadata)
        | ModelFile::Int8(_, metadata)
        | ModelFile::Int4(_, metadata) => {
            inspection.metadata = metadata.into_iter().collect();
            inspection.format_version = inspection.metadata.get("format_version").cloned();
            inspection.scheme = Some(file_scheme(inspection.kind));
            inspection.inputs = Some(crate::data::PIXELS);
            inspection.classes = Some(crate::data::CLASSES);
            inspection.tensors = file::tensors(path, &bytes)?
                .into_iter()
                .map(|(name, dtype, shape)| (name, format!("{dtype:?}"), shape))
                .collect();
        }
        ModelFile::Torch(_, tensors) => {
            inspection.scheme = Some("f32");
            inspection.inputs = Some(crate::data::PIXELS);
            inspection.classes = Some(crate::data::CLASSES);
            inspection.tensors = tensors;
        }
    }
    Ok(inspection)
}

/// Validates `blob` as a device would, into `inspection`.
fn describe_blob(inspection: &mut Inspection, blob: &[u8]) {
    match Blob::parse(blob) {
        Ok(blob) => {
            inspection.format_version = Some(blob.version().to_string());
            inspection.scheme = Some(scheme_name(blob.scheme()));
            inspection.inputs = Some(blob.inputs());
            inspection.classes = Some(blob.classes());
            inspection.status = "ok (magic, version, CRC-32, shape and values checked)".into();
        }
        Err(error) => {
            inspection.valid = false;
            inspection.status = error.to_string();
        }
    }
}

/// The scheme of a safetensors file's weights.
fn file_scheme(kind: Kind) -> &'static str {
    match kind {
        Kind::Int8Safetensors => "int8",
        Kind::Int4Safetensors => "int4",
        _ => "f32",
    }
}

fn scheme_name(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::F32 => "f32",
        Scheme::Int8 => "int8",
        Scheme::Int4 => "int4",
        _ => "unknown",
    }
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let shape = self.classes.zip(self.inputs).map(|(c, i)| format!("{c} classes x {i} inputs"));
        let mut rows = vec![
            ("status".to_string(), self.status.clone()),
            ("format version".into(), or_dash(self.format_version.clone())),
            ("scheme".into(), or_dash(self.scheme.map(str::to_string))),
            ("shape".into(), or_dash(shape)),
        ];
        if let Some(counter) = self.counter {
            rows.push(("security counter".into(), counter.to_string()));
        }
        if let Some(signature) = &self.signature {
            rows.push(("signature".into(), signature.clone()));
        }
        for (name, dtype, shape) in &self.tensors {
            rows.push(("tensor".into(), format!("{name:<20} {dtype:<4} {shape:?}")));
        }
        rows.extend(self.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
        write!(f, "{}: {} ({} bytes)", self.path, self.kind, self.bytes)?;
        for (key, value) in rows {
            write!(f, "\n  {key:<20} {value}")?;
        }
        Ok(())
    }
}
