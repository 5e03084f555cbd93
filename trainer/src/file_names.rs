//! The name of every file `train`, `export` and `plot` write in their output directory.

/// Float weights under the tutorial's PyTorch names.
pub const FLOAT_FILE: &str = "model.safetensors";
/// int8 weights, per-class scales and float bias.
pub const INT8_FILE: &str = "model.int8.safetensors";
/// int4 weights (one per I8, in -8..=7), per-class scales and float bias.
pub const INT4_FILE: &str = "model.int4.safetensors";
/// Device blob with f32 weights.
pub const F32_BLOB_FILE: &str = "model.f32.postcard";
/// Device blob with int8 weights.
pub const INT8_BLOB_FILE: &str = "model.int8.postcard";
/// Device blob with int4 weights, two per byte.
pub const INT4_BLOB_FILE: &str = "model.int4.postcard";
/// [`F32_BLOB_FILE`] in a signed envelope (`--signing-key`).
pub const F32_SIGNED_FILE: &str = "model.f32.signed";
/// [`INT8_BLOB_FILE`] in a signed envelope (`--signing-key`).
pub const INT8_SIGNED_FILE: &str = "model.int8.signed";
/// [`INT4_BLOB_FILE`] in a signed envelope (`--signing-key`).
pub const INT4_SIGNED_FILE: &str = "model.int4.signed";
/// The learned weight templates.
pub const WEIGHTS_PICTURE: &str = "weights.png";
/// The int8 model's confusion matrix on the test set.
pub const CONFUSION_PICTURE: &str = "confusion.png";
/// Loss and test accuracy over training.
pub const TRAINING_PICTURE: &str = "training.png";
/// A paused run (`--checkpoint-every`, Ctrl-C), removed when the run finishes.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
