//! PyTorch `torch.save` files: the zip format PyTorch writes since 1.6, holding the tutorial's
//! state dict (`linear.weight` F32 [10, 784], `linear.bias` F32 [10]), read as a float model.
//!
//! The pickle inside is run by candle's reader, which only builds objects: nothing in the file
//! is ever called, so a file cannot run code as `torch.load` of an untrusted file can.

use std::path::Path;

use crate::data::{CLASSES, PIXELS};
use crate::model::{BIAS, FloatModel, WEIGHT};
use crate::safetensors_file::FileError;

/// How a zip archive, so a `torch.save` file, begins.
pub const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";

/// How a legacy `torch.save` file begins: protocol 2, then the pickled magic number
/// 0x1950a86a20f9469cfc6c.
pub const LEGACY_MAGIC: [u8; 14] =
    [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// How to write a file this reader takes.
const SAVE: &str = "`torch.save(model.state_dict(), path)`";

/// Why a PyTorch file cannot be used; each says how to save one that can.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TorchError {
    /// A file in the format before PyTorch 1.6.
    #[error(
        "a PyTorch file in the legacy format (PyTorch before 1.6, or \
         `_use_new_zipfile_serialization=False`), which is not read: load it with `torch.load` \
         and save it again with a current PyTorch: {SAVE}"
    )]
    Legacy,
    /// A zip archive without the `data.pkl` of a PyTorch file.
    #[error(
        "a zip archive, but not a PyTorch file (it has no `data.pkl`): save the model with {SAVE}"
    )]
    NotTorch,
    /// The archive, its pickle or a tensor's storage is damaged (e.g. the file was cut short).
    #[error("a damaged PyTorch file ({0}): save it again with {SAVE}")]
    Damaged(String),
    /// The file holds something other than a state dict, e.g. a whole module.
    #[error("holds {found}, not a state dict: save the weights alone with {SAVE}")]
    NotStateDict {
        /// What it holds, in words.
        found: String,
    },
    /// The state dict lacks the tutorial's tensors, or has them with another dtype or shape.
    #[error(
        "the state dict holds {found}; expected `{WEIGHT}` F32 [{CLASSES}, {PIXELS}] and \
         `{BIAS}` F32 [{CLASSES}], as the tutorial's `self.linear = nn.Linear(784, 10)` saves \
         them: name the layer `linear` (or rename the keys), convert with `.float()`, then {SAVE}"
    )]
    Tensors {
        /// The tensors found (name, dtype, shape), in words.
        found: String,
    },
    /// This build cannot read PyTorch files.
    #[error("reading PyTorch files needs the trainer built with its `candle` feature")]
    Unsupported,
}

/// A tensor of a state dict: name, dtype (as safetensors names them, e.g. `F32`) and shape.
pub type TensorInfo = (String, String, Vec<usize>);

/// What a file holds: the model's weight and bias values, and every tensor of its state dict.
struct Contents {
    weight: Vec<f32>,
    bias: Vec<f32>,
    tensors: Vec<TensorInfo>,
}

/// Whether `bytes` start as a PyTorch file does, current or legacy: [`parse`] then reads it or
/// says what is wrong with it.
pub fn is_torch(bytes: &[u8]) -> bool {
    bytes.starts_with(&ZIP_MAGIC) || bytes.starts_with(&LEGACY_MAGIC)
}

/// Reads the float model from the bytes of the `torch.save` file `path`, and the state dict's
/// tensors, sorted by name. Tensors other than the two of the model are ignored, as in a
/// safetensors file.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<(FloatModel, Vec<TensorInfo>), FileError> {
    let error = |source| FileError::Torch { path: path.into(), source };
    if bytes.starts_with(&LEGACY_MAGIC) {
        return Err(error(TorchError::Legacy));
    }
    let Contents { weight, bias, tensors } = read(bytes).map_err(error)?;
    let model = FloatModel::new(weight, bias)
        .map_err(|source| FileError::Model { path: path.into(), source })?;
    Ok((model, tensors))
}

#[cfg(not(feature = "candle"))]
fn read(_: &[u8]) -> Result<Contents, TorchError> {
    Err(TorchError::Unsupported)
}

#[cfg(feature = "candle")]
use reader::read;

#[cfg(feature = "candle")]
mod reader {
    use std::io::{Cursor, Read};

    use candle_core::pickle::{Object, OpCode, Stack};
    use zip::ZipArchive;

    use super::{BIAS, CLASSES, Contents, PIXELS, TensorInfo, TorchError, WEIGHT};
    use crate::bytes::f32s_from_le;

    /// The largest `data.pkl` read: the tutorial's state dict pickles to about 330 bytes, a
    /// whole module to about 1 KB. The bound keeps the nesting of a hostile pickle (at most one
    /// level a byte; candle's objects are dropped recursively) within a 2 MiB thread stack.
    const MAX_PICKLE: u64 = 16 * 1024;

    type Archive<'a> = ZipArchive<Cursor<&'a [u8]>>;

    /// The tensors of a state dict, by name.
    type Tensors = Vec<(String, Tensor)>;

    /// Where a tensor's values are: its storage (an archive entry) and its place in it.
    struct Tensor {
        /// The storage's class, e.g. `FloatStorage`.
        storage: String,
        /// The storage's entry name under `data/`.
        key: String,
        offset: usize,
        shape: Vec<usize>,
        stride: Vec<usize>,
    }

    /// The contents of the `torch.save` file `bytes`.
    pub(super) fn read(bytes: &[u8]) -> Result<Contents, TorchError> {
        let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(damaged)?;
        let prefix = archive
            .file_names()
            .filter_map(Result::ok)
            .find_map(|name| name.strip_suffix("data.pkl").map(str::to_owned))
            .ok_or(TorchError::NotTorch)?;
        let pickle = entry(&mut archive, &format!("{prefix}data.pkl"), MAX_PICKLE)?;
        let (tensors, keys) = state_dict(unpickle(&pickle)?)?;
        let mut infos: Vec<TensorInfo> = tensors
            .iter()
            .map(|(name, t)| (name.clone(), dtype(&t.storage).into(), t.shape.clone()))
            .collect();
        infos.sort();
        let find = |name: &str, shape: &[usize]| {
            tensors
                .iter()
                .find(|(n, t)| n == name && t.storage == "FloatStorage" && t.shape == shape)
        };
        let (Some((_, weight)), Some((_, bias))) =
            (find(WEIGHT, &[CLASSES, PIXELS]), find(BIAS, &[CLASSES]))
        else {
            let found = if infos.is_empty() {
                format!("no tensors (its keys: {})", keys.join(", "))
            } else {
                list(&infos)
            };
            return Err(TorchError::Tensors { found });
        };
        let weight = values(&mut archive, &prefix, WEIGHT, weight)?;
        let bias = values(&mut archive, &prefix, BIAS, bias)?;
        Ok(Contents { weight, bias, tensors: infos })
    }

    /// The bytes of an archive entry, at most `limit`.
    fn entry(archive: &mut Archive<'_>, name: &str, limit: u64) -> Result<Vec<u8>, TorchError> {
        let file = archive.by_name(name).map_err(|e| damaged(format!("`{name}`: {e}")))?;
        if file.size() > limit {
            return Err(damaged(format!("`{name}` is {} bytes, more than {limit}", file.size())));
        }
        let mut bytes = Vec::new();
        file.take(limit).read_to_end(&mut bytes).map_err(|e| damaged(format!("`{name}`: {e}")))?;
        Ok(bytes)
    }

    /// The most objects the memo may copy: candle's reader copies an object on every memo put
    /// and get, so a small hostile pickle could double one until memory ran out. A state dict
    /// copies a few hundred.
    const MAX_COPIED: usize = 100_000;

    /// Runs the pickle with candle's reader, one opcode at a time, each checked first by
    /// [`refused`], and the memo's copies counted.
    fn unpickle(mut pickle: &[u8]) -> Result<Object, TorchError> {
        let memo_ops = [OpCode::BinPut, OpCode::LongBinPut, OpCode::BinGet, OpCode::LongBinGet]
            .map(|op| op as u8);
        let pickle_error = |e: candle_core::Error| damaged(format!("`data.pkl`: {e}"));
        let mut stack = Stack::empty();
        let mut copied = 0;
        loop {
            if let Some(reason) = refused(pickle) {
                return Err(damaged(reason));
            }
            let op = pickle.first().copied();
            if stack.read(&mut pickle).map_err(pickle_error)? {
                return stack.finalize().map_err(pickle_error);
            }
            if op.is_some_and(|op| memo_ops.contains(&op)) {
                copied += stack.stack().last().map_or(0, |top| size(top, MAX_COPIED + 1));
                if copied > MAX_COPIED {
                    return Err(damaged("`data.pkl` copies more objects than a state dict has"));
                }
            }
        }
    }

    /// Why candle's reader must not run the pickle's next opcode: its LONG1 shifts past 64 bits
    /// for numbers over 8 bytes (an overflow panic in debug builds), its BINUNICODE allocates
    /// the length given, however short the pickle.
    fn refused(pickle: &[u8]) -> Option<&'static str> {
        match *pickle {
            [op, length, ..] if op == OpCode::Long1 as u8 && length > 8 => {
                Some("`data.pkl` holds a number over 8 bytes")
            }
            [op, a, b, c, d, ref rest @ ..]
                if op == OpCode::BinUnicode as u8
                    && u32::from_le_bytes([a, b, c, d]) as usize > rest.len() =>
            {
                Some("`data.pkl` is cut short")
            }
            _ => None,
        }
    }

    /// The number of objects in `object`, counted up to `limit`.
    fn size(object: &Object, limit: usize) -> usize {
        let (mut count, mut pending) = (0, vec![object]);
        while let Some(object) = pending.pop()
            && count < limit
        {
            count += 1;
            match object {
                Object::Tuple(items) | Object::List(items) => pending.extend(items),
                Object::Dict(pairs) => pending.extend(pairs.iter().flat_map(|(k, v)| [k, v])),
                Object::Reduce { callable, args } | Object::Build { callable, args } => {
                    pending.extend([callable.as_ref(), args.as_ref()])
                }
                Object::PersistentLoad(inner) => pending.push(inner),
                _ => {}
            }
        }
        count
    }

    /// The tensors of a state dict by name, and all its keys (quoted); entries that are no
    /// tensor (e.g. the `_metadata` PyTorch adds) are left out of the tensors.
    fn state_dict(object: Object) -> Result<(Tensors, Vec<String>), TorchError> {
        let Object::Dict(entries) = object else {
            return Err(TorchError::NotStateDict { found: describe(&object) });
        };
        let named = entries.iter().filter_map(|(name, value)| match name {
            Object::Unicode(name) => Some((name, value)),
            _ => None,
        });
        let keys = named.clone().map(|(name, _)| format!("`{name}`")).collect();
        let tensors =
            named.filter_map(|(name, value)| Some((name.clone(), tensor(value)?))).collect();
        Ok((tensors, keys))
    }

    /// A tensor as `torch.save` pickles one: `_rebuild_tensor_v2(storage, offset, shape,
    /// stride, ...)`, the storage a persistent id `("storage", class, key, location, size)`;
    /// a parameter wraps one in `_rebuild_parameter`.
    fn tensor(mut value: &Object) -> Option<Tensor> {
        loop {
            let Object::Reduce { callable, args } = value else { return None };
            let (Object::Class { module_name, class_name }, Object::Tuple(args)) =
                (callable.as_ref(), args.as_ref())
            else {
                return None;
            };
            match (module_name.as_str(), class_name.as_str(), args.as_slice()) {
                ("torch._utils", "_rebuild_parameter", [tensor, ..]) => value = tensor,
                (
                    "torch._utils",
                    "_rebuild_tensor_v2",
                    [Object::PersistentLoad(id), offset, shape, stride, ..],
                ) => {
                    let Object::Tuple(id) = id.as_ref() else { return None };
                    let [
                        Object::Unicode(kind),
                        Object::Class { class_name: storage, .. },
                        Object::Unicode(key),
                        ..,
                    ] = id.as_slice()
                    else {
                        return None;
                    };
                    return (kind == "storage").then_some(Tensor {
                        storage: storage.clone(),
                        key: key.clone(),
                        offset: int(offset)?,
                        shape: ints(shape)?,
                        stride: ints(stride)?,
                    });
                }
                _ => return None,
            }
        }
    }

    fn int(object: &Object) -> Option<usize> {
        match *object {
            Object::Int(n) => usize::try_from(n).ok(),
            Object::Long(n) => usize::try_from(n).ok(),
            _ => None,
        }
    }

    fn ints(object: &Object) -> Option<Vec<usize>> {
        let Object::Tuple(items) = object else { return None };
        items.iter().map(int).collect()
    }

    /// What a pickled object is, in words, for an error message.
    fn describe(mut object: &Object) -> String {
        while let Object::Build { callable, .. } | Object::Reduce { callable, .. } = object {
            object = callable;
        }
        match object {
            Object::Class { module_name, class_name } => format!(
                "a `{module_name}.{class_name}` object (as `torch.save(model)` saves a whole \
                 module, which only its class's code can load)"
            ),
            Object::List(_) => "a list".into(),
            Object::Tuple(_) => "a tuple".into(),
            Object::Unicode(_) => "a string".into(),
            Object::Int(_) | Object::Long(_) | Object::Float(_) | Object::Bool(_) => {
                "a number".into()
            }
            _ => "no readable object".into(),
        }
    }

    /// Tensors as `` `name` DTYPE [shape] ``, comma-separated.
    fn list(tensors: &[TensorInfo]) -> String {
        let items: Vec<String> = tensors
            .iter()
            .map(|(name, dtype, shape)| format!("`{name}` {dtype} {shape:?}"))
            .collect();
        items.join(", ")
    }

    /// Storage classes by the dtype names safetensors uses.
    fn dtype(storage: &str) -> &str {
        match storage {
            "FloatStorage" => "F32",
            "DoubleStorage" => "F64",
            "HalfStorage" => "F16",
            "BFloat16Storage" => "BF16",
            "LongStorage" => "I64",
            "IntStorage" => "I32",
            "ShortStorage" => "I16",
            "CharStorage" => "I8",
            "ByteStorage" => "U8",
            "BoolStorage" => "BOOL",
            other => other,
        }
    }

    /// The values of an F32 tensor, in row-major order, gathered from its storage by its
    /// offset and strides (so views and transposes read right).
    fn values(
        archive: &mut Archive<'_>,
        prefix: &str,
        name: &str,
        tensor: &Tensor,
    ) -> Result<Vec<f32>, TorchError> {
        if tensor.stride.len() != tensor.shape.len() {
            return Err(outside(name));
        }
        let storage =
            f32s_from_le(&entry(archive, &format!("{prefix}data/{}", tensor.key), u64::MAX)?);
        let mut indices = vec![tensor.offset];
        for (&dim, &stride) in tensor.shape.iter().zip(&tensor.stride) {
            indices = indices
                .iter()
                .flat_map(|&base| (0..dim).map(move |i| i.checked_mul(stride)?.checked_add(base)))
                .collect::<Option<_>>()
                .ok_or_else(|| outside(name))?;
        }
        indices.iter().map(|&i| storage.get(i).copied().ok_or_else(|| outside(name))).collect()
    }

    fn outside(name: &str) -> TorchError {
        damaged(format!("tensor `{name}` lies outside its storage"))
    }

    fn damaged(reason: impl ToString) -> TorchError {
        TorchError::Damaged(reason.to_string())
    }
}
