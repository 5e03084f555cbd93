//! Safetensors files: the float, int8 and int4 models (PyTorch's names and layout) and the tensor
//! reading and writing that checkpoints share, with a deterministic header.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensorError, SafeTensors};

use crate::bytes::{f32s_from_le, f32s_to_le};
use crate::data::{CLASSES, PIXELS};
use crate::model::{BIAS, FloatModel, Int4Model, ModelError, QuantizedModel, WEIGHT, WEIGHT_SCALE};
use crate::torch_file::TorchError;

/// Version of the safetensors files' layout and metadata keys.
pub const FORMAT_VERSION: &str = "1";

/// The metadata key that marks an int4 file, with the value [`INT4_BITS`]: its I8 weights
/// could also be read as int8 ones, so the values alone cannot tell the two apart.
pub const WEIGHT_BITS: &str = "weight_bits";
/// [`WEIGHT_BITS`] of an int4 file.
pub const INT4_BITS: &str = "4";

/// String metadata stored in the safetensors header, in key order.
pub type Metadata = BTreeMap<String, String>;

/// Why a model or checkpoint file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The file is not valid safetensors.
    #[error("{path}: not a valid safetensors file: {source}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        source: SafeTensorError,
    },
    /// A tensor is missing or has the wrong dtype or shape.
    #[error("{path}: tensor `{name}` {problem}")]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        name: &'static str,
        /// What is wrong, in words.
        problem: String,
    },
    /// The tensors do not form a valid model (e.g. NaN weights).
    #[error("{path}: {source}")]
    Model {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: ModelError,
    },
    /// The `weight_bits` metadata names no scheme this reader takes (e.g. an int4 file given
    /// to the int8 reader).
    #[error(
        "{path}: metadata `{WEIGHT_BITS}` is {}, expected {expected}",
        found.as_ref().map_or("absent".into(), |bits| format!("{bits:?}"))
    )]
    WeightBits {
        /// The file.
        path: PathBuf,
        /// The value found, if any.
        found: Option<String>,
        /// What the reader takes, in words.
        expected: &'static str,
    },
    /// A PyTorch (`torch.save`) file cannot be used.
    #[error("{path}: {source}")]
    Torch {
        /// The file.
        path: PathBuf,
        /// What is wrong, and how to save a file that can be used.
        source: TorchError,
    },
    /// A training checkpoint is invalid.
    #[error("{path}: {problem}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Serializing failed (invalid model or shapes).
    #[error("cannot serialize: {0}")]
    Serialize(String),
}

/// The float model as safetensors, loadable by `LogisticRegressionModel.load_state_dict`.
pub fn float_safetensors(model: &FloatModel, metadata: &Metadata) -> Result<Vec<u8>, FileError> {
    let weight = f32s_to_le(model.weight());
    let bias = f32s_to_le(model.bias());
    serialize(
        [
            (WEIGHT, Dtype::F32, vec![CLASSES, PIXELS], &weight[..]),
            (BIAS, Dtype::F32, vec![CLASSES], &bias[..]),
        ],
        metadata,
    )
}

/// The int8 model as safetensors: I8 weight, F32 weight_scale and bias.
pub fn int8_safetensors(model: &QuantizedModel, metadata: &Metadata) -> Result<Vec<u8>, FileError> {
    quantized_safetensors(model.weight(), model.scale(), model.bias(), metadata)
}

/// The int4 model as safetensors: as [`int8_safetensors`], one weight in `-8..=7` per I8 (so
/// numpy and PyTorch read them as they are), with `weight_bits` = 4 added to the metadata.
pub fn int4_safetensors(model: &Int4Model, metadata: &Metadata) -> Result<Vec<u8>, FileError> {
    let mut metadata = metadata.clone();
    metadata.insert(WEIGHT_BITS.into(), INT4_BITS.into());
    quantized_safetensors(model.weight(), model.scale(), model.bias(), &metadata)
}

/// I8 weight, F32 weight_scale and bias.
fn quantized_safetensors(
    weight: &[i8],
    scale: &[f32],
    bias: &[f32],
    metadata: &Metadata,
) -> Result<Vec<u8>, FileError> {
    let weight: Vec<u8> = weight.iter().map(|w| w.cast_unsigned()).collect();
    let scale = f32s_to_le(scale);
    let bias = f32s_to_le(bias);
    serialize(
        [
            (WEIGHT, Dtype::I8, vec![CLASSES, PIXELS], &weight[..]),
            (WEIGHT_SCALE, Dtype::F32, vec![CLASSES], &scale[..]),
            (BIAS, Dtype::F32, vec![CLASSES], &bias[..]),
        ],
        metadata,
    )
}

/// Tensors (name, dtype, shape, little-endian data) and metadata as a safetensors file: the
/// same input, the same bytes.
pub(crate) fn serialize<'a>(
    tensors: impl IntoIterator<Item = (&'a str, Dtype, Vec<usize>, &'a [u8])>,
    metadata: &Metadata,
) -> Result<Vec<u8>, FileError> {
    let views = tensors
        .into_iter()
        .map(|(name, dtype, shape, data)| Ok((name, TensorView::new(dtype, shape, data)?)))
        .collect::<Result<Vec<_>, SafeTensorError>>();
    let plain = views
        .and_then(|views| safetensors::serialize(views, None))
        .map_err(|e| FileError::Serialize(e.to_string()))?;
    with_metadata(&plain, metadata).map_err(|e| FileError::Serialize(e.to_string()))
}

/// `safetensors::serialize` writes metadata from a `HashMap`, in another order every run. So
/// the header of a file written without metadata is rebuilt with it, keys sorted (metadata,
/// then tensors by name; the data stays where it was): the same model, the same bytes.
fn with_metadata(plain: &[u8], metadata: &Metadata) -> Result<Vec<u8>, serde_json::Error> {
    let (&length, rest) = plain.split_first_chunk::<8>().unwrap_or((&[0; 8], plain));
    let (header, data) = rest.split_at((u64::from_le_bytes(length) as usize).min(rest.len()));
    let mut header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(header)?;
    header.insert("__metadata__".into(), serde_json::to_value(metadata)?);
    let mut header = serde_json::to_vec(&header)?;
    // Data starts 8-byte aligned, padded with spaces as safetensors pads.
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut file = Vec::with_capacity(8 + header.len() + data.len());
    file.extend_from_slice(&(header.len() as u64).to_le_bytes());
    file.extend_from_slice(&header);
    file.extend_from_slice(data);
    Ok(file)
}

/// Reads a float model (F32 `linear.weight` `[10, 784]`, `linear.bias` `[10]`), e.g. one saved by
/// PyTorch with `safetensors.torch.save_file(model.state_dict(), path)`.
pub fn read_float(path: &Path) -> Result<(FloatModel, Metadata), FileError> {
    parse_float(path, &read(path)?)
}

/// Reads an int8 model as written by [`int8_safetensors`].
pub fn read_int8(path: &Path) -> Result<(QuantizedModel, Metadata), FileError> {
    parse_int8(path, &read(path)?)
}

/// Reads an int4 model as written by [`int4_safetensors`].
pub fn read_int4(path: &Path) -> Result<(Int4Model, Metadata), FileError> {
    parse_int4(path, &read(path)?)
}

/// [`read_float`] on bytes already read from `path`.
pub fn parse_float(path: &Path, bytes: &[u8]) -> Result<(FloatModel, Metadata), FileError> {
    let file = parse(path, bytes)?;
    let weight = tensor(path, &file, WEIGHT, Dtype::F32, &[CLASSES, PIXELS])?;
    let bias = tensor(path, &file, BIAS, Dtype::F32, &[CLASSES])?;
    let model = FloatModel::new(f32s_from_le(weight), f32s_from_le(bias))
        .map_err(|source| FileError::Model { path: path.into(), source })?;
    Ok((model, metadata(path, bytes)?))
}

/// [`read_int8`] on bytes already read from `path`. A file marked int4 (`weight_bits` = 4) is
/// refused: it is read by [`parse_int4`].
pub fn parse_int8(path: &Path, bytes: &[u8]) -> Result<(QuantizedModel, Metadata), FileError> {
    let file = parse(path, bytes)?;
    let metadata = metadata(path, bytes)?;
    let found = metadata.get(WEIGHT_BITS);
    if found.is_some_and(|bits| bits != "8") {
        let (found, expected) = (found.cloned(), "8 or absent (an int8 file)");
        return Err(FileError::WeightBits { path: path.into(), found, expected });
    }
    Ok((quantized_model(path, &file)?, metadata))
}

/// [`read_int4`] on bytes already read from `path`: needs `weight_bits` = 4 in the metadata.
pub fn parse_int4(path: &Path, bytes: &[u8]) -> Result<(Int4Model, Metadata), FileError> {
    let file = parse(path, bytes)?;
    let metadata = metadata(path, bytes)?;
    if !is_int4(&metadata) {
        let (found, expected) = (metadata.get(WEIGHT_BITS).cloned(), "4 (an int4 file)");
        return Err(FileError::WeightBits { path: path.into(), found, expected });
    }
    let model = Int4Model::try_from(quantized_model(path, &file)?)
        .map_err(|source| FileError::Model { path: path.into(), source })?;
    Ok((model, metadata))
}

/// Whether `metadata` marks an int4 file.
pub fn is_int4(metadata: &Metadata) -> bool {
    metadata.get(WEIGHT_BITS).is_some_and(|bits| bits == INT4_BITS)
}

/// The I8 weight, F32 weight_scale and F32 bias of an int8 or int4 file, validated.
fn quantized_model(path: &Path, file: &SafeTensors<'_>) -> Result<QuantizedModel, FileError> {
    let weight = tensor(path, file, WEIGHT, Dtype::I8, &[CLASSES, PIXELS])?;
    let scale = tensor(path, file, WEIGHT_SCALE, Dtype::F32, &[CLASSES])?;
    let bias = tensor(path, file, BIAS, Dtype::F32, &[CLASSES])?;
    let weight = weight.iter().map(|b| b.cast_signed()).collect();
    QuantizedModel::new(weight, f32s_from_le(scale), f32s_from_le(bias))
        .map_err(|source| FileError::Model { path: path.into(), source })
}

/// The tensors of a safetensors file: name, dtype and shape, sorted by name.
pub fn tensors(path: &Path, bytes: &[u8]) -> Result<Vec<(String, Dtype, Vec<usize>)>, FileError> {
    let mut tensors: Vec<_> = parse(path, bytes)?
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.dtype(), view.shape().to_vec()))
        .collect();
    tensors.sort();
    Ok(tensors)
}

/// The metadata of a safetensors file.
pub fn metadata(path: &Path, bytes: &[u8]) -> Result<Metadata, FileError> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|source| FileError::Safetensors { path: path.into(), source })?;
    Ok(header.metadata().iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect())
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    fs::read(path).map_err(|source| FileError::Io { path: path.into(), source })
}

pub(crate) fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>, FileError> {
    SafeTensors::deserialize(bytes)
        .map_err(|source| FileError::Safetensors { path: path.into(), source })
}

pub(crate) fn tensor<'a>(
    path: &Path,
    file: &SafeTensors<'a>,
    name: &'static str,
    dtype: Dtype,
    shape: &[usize],
) -> Result<&'a [u8], FileError> {
    let problem = |problem: String| FileError::Tensor { path: path.into(), name, problem };
    let view = file.tensor(name).map_err(|_| problem("is missing".into()))?;
    if view.dtype() != dtype || view.shape() != shape {
        return Err(problem(format!(
            "is {:?} {:?}, expected {dtype:?} {shape:?}{}",
            view.dtype(),
            view.shape(),
            if dtype == Dtype::F32 { " (convert with `.float()` before saving)" } else { "" }
        )));
    }
    Ok(view.data())
}
