//! Any model file, told apart by its content: a device blob, a float, int8 or int4
//! safetensors, or a PyTorch state dict (`torch.save`).

use std::path::Path;

use safetensors::Dtype;
use serde::Serialize;

use crate::model::{FloatModel, Int4Model, QuantizedModel, WEIGHT};
use crate::safetensors_file::{self as file, FileError, Metadata};
use crate::torch_file::{self, TensorInfo};

/// A model file, read and validated.
#[derive(Debug, Clone)]
pub enum ModelFile {
    /// An `infer-core` blob (checked when it is run or inspected).
    Blob(Vec<u8>),
    /// A blob in a signed envelope (signature checked only by `inspect --public-key` and by
    /// devices; the host runs the blob inside as it is).
    Signed(Vec<u8>),
    /// A float safetensors (`linear.weight` F32).
    Float(FloatModel, Metadata),
    /// An int8 safetensors (`linear.weight` I8, `linear.weight_scale`).
    Int8(QuantizedModel, Metadata),
    /// An int4 safetensors (as int8, values in -8..=7, marked by `weight_bits` = 4).
    Int4(Int4Model, Metadata),
    /// A PyTorch state dict saved with `torch.save` (the tutorial's), and all its tensors.
    Torch(FloatModel, Vec<TensorInfo>),
}

impl ModelFile {
    /// Reads `path`: a blob if it starts with the blob magic, a PyTorch file if it starts as
    /// one (a zip archive, or a legacy pickle, which is refused), else safetensors: int4 if its
    /// metadata says `weight_bits` = 4 (whatever its tensors, so a damaged int4 file gets the
    /// int4 reader's error), else int8 or float by the dtype of `linear.weight`.
    pub fn open(path: &Path) -> Result<Self, FileError> {
        Self::parse(path, &file::read(path)?)
    }

    /// [`open`](Self::open) on the bytes of `path`, already read.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, FileError> {
        if bytes.starts_with(&infer_core::blob::MAGIC) {
            return Ok(Self::Blob(bytes.to_vec()));
        }
        if bytes.starts_with(&infer_core::signed::MAGIC) {
            return Ok(Self::Signed(bytes.to_vec()));
        }
        if torch_file::is_torch(bytes) {
            return torch_file::parse(path, bytes)
                .map(|(model, tensors)| Self::Torch(model, tensors));
        }
        let dtype = file::tensors(path, bytes)?.into_iter().find(|(name, ..)| name == WEIGHT);
        if file::is_int4(&file::metadata(path, bytes)?) {
            return file::parse_int4(path, bytes).map(|(model, meta)| Self::Int4(model, meta));
        }
        match dtype {
            Some((_, Dtype::I8, _)) => {
                file::parse_int8(path, bytes).map(|(model, meta)| Self::Int8(model, meta))
            }
            _ => file::parse_float(path, bytes).map(|(model, meta)| Self::Float(model, meta)),
        }
    }

    /// What kind of file it is, in words.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Blob(_) => Kind::Blob,
            Self::Signed(_) => Kind::SignedBlob,
            Self::Float(..) => Kind::FloatSafetensors,
            Self::Int8(..) => Kind::Int8Safetensors,
            Self::Int4(..) => Kind::Int4Safetensors,
            Self::Torch(..) => Kind::TorchStateDict,
        }
    }

    /// The blob a device would run for this model: the file itself, the blob in the signed
    /// envelope, or the encoding of its weights (f32 for a float or PyTorch file, int8 or int4
    /// for a quantized one).
    pub fn device_blob(&self) -> Result<Vec<u8>, infer_core::Error> {
        match self {
            Self::Blob(bytes) => Ok(bytes.clone()),
            Self::Signed(bytes) => {
                let (envelope, rest) = infer_core::signed::Envelope::parse_prefix(bytes)?;
                if !rest.is_empty() {
                    return Err(infer_core::Error::TrailingBytes);
                }
                Ok(envelope.unverified_blob.to_vec())
            }
            Self::Float(model, _) | Self::Torch(model, _) => model.to_blob(),
            Self::Int8(model, _) => model.to_blob(),
            Self::Int4(model, _) => model.to_blob(),
        }
    }
}

/// Reads the float model of `path`, for the commands that need float weights: a float
/// safetensors (with its metadata) or a PyTorch state dict (with none), and which of the two.
pub fn read_float(path: &Path) -> Result<(FloatModel, Metadata, Kind), FileError> {
    let bytes = file::read(path)?;
    if torch_file::is_torch(&bytes) {
        let (model, _) = torch_file::parse(path, &bytes)?;
        return Ok((model, Metadata::new(), Kind::TorchStateDict));
    }
    let (model, metadata) = file::parse_float(path, &bytes)?;
    Ok((model, metadata, Kind::FloatSafetensors))
}

/// The kinds of model files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `*.postcard`.
    Blob,
    /// `*.signed`.
    SignedBlob,
    /// `model.safetensors`.
    FloatSafetensors,
    /// `model.int8.safetensors`.
    Int8Safetensors,
    /// `model.int4.safetensors`.
    Int4Safetensors,
    /// `awesome_model.pkl`, `*.pt`, `*.pth`.
    TorchStateDict,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Blob => "device blob",
            Kind::SignedBlob => "signed device blob",
            Kind::FloatSafetensors => "float safetensors",
            Kind::Int8Safetensors => "int8 safetensors",
            Kind::Int4Safetensors => "int4 safetensors",
            Kind::TorchStateDict => "PyTorch state dict (torch.save)",
        })
    }
}
