//! The output files: float and int8 safetensors, device blobs, all written atomically.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensorError, SafeTensors};

use crate::data::{CLASSES, PIXELS};
use crate::model::{BIAS, FloatModel, ModelError, QuantizedModel, WEIGHT, WEIGHT_SCALE};

/// Float weights under the tutorial's PyTorch names.
pub const FLOAT_FILE: &str = "model.safetensors";
/// int8 weights, per-class scales and float bias.
pub const INT8_FILE: &str = "model.int8.safetensors";
/// Device blob with f32 weights.
pub const F32_BLOB_FILE: &str = "model.f32.postcard";
/// Device blob with int8 weights.
pub const INT8_BLOB_FILE: &str = "model.int8.postcard";
/// [`F32_BLOB_FILE`] in a signed envelope (`--signing-key`).
pub const F32_SIGNED_FILE: &str = "model.f32.signed";
/// [`INT8_BLOB_FILE`] in a signed envelope (`--signing-key`).
pub const INT8_SIGNED_FILE: &str = "model.int8.signed";

/// Version of the safetensors files' layout and metadata keys.
pub const FORMAT_VERSION: &str = "1";

/// String metadata stored in the safetensors header.
pub type Metadata = HashMap<String, String>;

/// Why a model file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
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
pub fn float_safetensors(model: &FloatModel, metadata: &Metadata) -> Result<Vec<u8>, ExportError> {
    let weight = f32_bytes(model.weight());
    let bias = f32_bytes(model.bias());
    serialize(
        [
            (WEIGHT, Dtype::F32, vec![CLASSES, PIXELS], &weight[..]),
            (BIAS, Dtype::F32, vec![CLASSES], &bias[..]),
        ],
        metadata,
    )
}

/// The int8 model as safetensors: I8 weight, F32 weight_scale and bias.
pub fn int8_safetensors(
    model: &QuantizedModel,
    metadata: &Metadata,
) -> Result<Vec<u8>, ExportError> {
    let weight: Vec<u8> = model.weight().iter().map(|w| w.to_le_bytes()[0]).collect();
    let scale = f32_bytes(model.scale());
    let bias = f32_bytes(model.bias());
    serialize(
        [
            (WEIGHT, Dtype::I8, vec![CLASSES, PIXELS], &weight[..]),
            (WEIGHT_SCALE, Dtype::F32, vec![CLASSES], &scale[..]),
            (BIAS, Dtype::F32, vec![CLASSES], &bias[..]),
        ],
        metadata,
    )
}

pub(crate) fn serialize<'a>(
    tensors: impl IntoIterator<Item = (&'a str, Dtype, Vec<usize>, &'a [u8])>,
    metadata: &Metadata,
) -> Result<Vec<u8>, ExportError> {
    let views = tensors
        .into_iter()
        .map(|(name, dtype, shape, data)| Ok((name, TensorView::new(dtype, shape, data)?)))
        .collect::<Result<Vec<_>, SafeTensorError>>();
    views
        .and_then(|views| safetensors::serialize(views, Some(metadata.clone())))
        .map_err(|e| ExportError::Serialize(e.to_string()))
}

pub(crate) fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Reads a float model (F32 `linear.weight` [10, 784], `linear.bias` [10]), e.g. one saved by
/// PyTorch with `safetensors.torch.save_file(model.state_dict(), path)`.
pub fn read_float(path: &Path) -> Result<(FloatModel, Metadata), ExportError> {
    parse_float(path, &read(path)?)
}

/// Reads an int8 model as written by [`int8_safetensors`].
pub fn read_int8(path: &Path) -> Result<(QuantizedModel, Metadata), ExportError> {
    parse_int8(path, &read(path)?)
}

/// [`read_float`] on bytes already read from `path`.
pub fn parse_float(path: &Path, bytes: &[u8]) -> Result<(FloatModel, Metadata), ExportError> {
    let file = parse(path, bytes)?;
    let weight = tensor(path, &file, WEIGHT, Dtype::F32, &[CLASSES, PIXELS])?;
    let bias = tensor(path, &file, BIAS, Dtype::F32, &[CLASSES])?;
    let model = FloatModel::new(f32s(weight), f32s(bias))
        .map_err(|source| ExportError::Model { path: path.into(), source })?;
    Ok((model, metadata(path, bytes)?))
}

/// [`read_int8`] on bytes already read from `path`.
pub fn parse_int8(path: &Path, bytes: &[u8]) -> Result<(QuantizedModel, Metadata), ExportError> {
    let file = parse(path, bytes)?;
    let weight = tensor(path, &file, WEIGHT, Dtype::I8, &[CLASSES, PIXELS])?;
    let scale = tensor(path, &file, WEIGHT_SCALE, Dtype::F32, &[CLASSES])?;
    let bias = tensor(path, &file, BIAS, Dtype::F32, &[CLASSES])?;
    let weight = weight.iter().map(|&b| i8::from_le_bytes([b])).collect();
    let model = QuantizedModel::new(weight, f32s(scale), f32s(bias))
        .map_err(|source| ExportError::Model { path: path.into(), source })?;
    Ok((model, metadata(path, bytes)?))
}

/// The tensors of a safetensors file: name, dtype and shape, sorted by name.
pub fn tensors(path: &Path, bytes: &[u8]) -> Result<Vec<(String, Dtype, Vec<usize>)>, ExportError> {
    let mut tensors: Vec<_> = parse(path, bytes)?
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.dtype(), view.shape().to_vec()))
        .collect();
    tensors.sort();
    Ok(tensors)
}

/// The metadata of a safetensors file.
pub fn metadata(path: &Path, bytes: &[u8]) -> Result<Metadata, ExportError> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|source| ExportError::Safetensors { path: path.into(), source })?;
    Ok(header.metadata().clone().unwrap_or_default())
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, ExportError> {
    fs::read(path).map_err(|source| ExportError::Io { path: path.into(), source })
}

pub(crate) fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>, ExportError> {
    SafeTensors::deserialize(bytes)
        .map_err(|source| ExportError::Safetensors { path: path.into(), source })
}

pub(crate) fn tensor<'a>(
    path: &Path,
    file: &SafeTensors<'a>,
    name: &'static str,
    dtype: Dtype,
    shape: &[usize],
) -> Result<&'a [u8], ExportError> {
    let problem = |problem: String| ExportError::Tensor { path: path.into(), name, problem };
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

pub(crate) fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// Writes every file to a temporary name beside its destination, syncs it, and only then
/// renames them all into place: an interrupted or failed run leaves the previous files intact.
pub fn write_atomically(files: &[(PathBuf, Vec<u8>)]) -> Result<(), ExportError> {
    stage(files)?.commit()
}

/// Files written under temporary names, not yet in place: [`commit`](Staged::commit) renames
/// them into place; dropping them instead deletes them, leaving the destinations as they were.
#[must_use = "dropping staged files deletes them"]
pub struct Staged {
    renames: Vec<(PathBuf, PathBuf)>,
}

/// Writes and syncs every file under a temporary name beside its destination. On a failure
/// (full disk, unwritable directory) the files staged so far are deleted.
pub fn stage(files: &[(PathBuf, Vec<u8>)]) -> Result<Staged, ExportError> {
    let mut staged = Staged { renames: Vec::with_capacity(files.len()) };
    for (path, bytes) in files {
        let temp = temporary_name(path);
        staged.renames.push((temp.clone(), path.clone()));
        let write = || -> io::Result<()> {
            let mut file = File::create(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()
        };
        write().map_err(|source| ExportError::Io { path: path.clone(), source })?;
    }
    Ok(staged)
}

impl Staged {
    /// Renames the files into place and syncs their directories, so the new names survive a
    /// power cut.
    pub fn commit(mut self) -> Result<(), ExportError> {
        let mut dirs = Vec::new();
        // Front to back; on an error, `drop` deletes the temporary files not yet renamed.
        while let Some((temp, path)) = self.renames.first() {
            fs::rename(temp, path)
                .map_err(|source| ExportError::Io { path: path.clone(), source })?;
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !dirs.contains(&dir.to_path_buf()) {
                dirs.push(dir.to_path_buf());
            }
            self.renames.remove(0);
        }
        for dir in dirs {
            // Not every platform can open a directory to sync it (Windows): best effort.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (temp, _) in &self.renames {
            let _ = fs::remove_file(temp);
        }
    }
}

fn temporary_name(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}
