//! Train multinomial logistic regression on MNIST with candle, quantize it to int8 and int4, and export
//! it for PyTorch (safetensors) and for devices (`infer-core` blobs).
//!
//! The pipeline, one module per step: [`data`] reads and validates the IDX files, [`train`]
//! fits the model with the [`settings`], [`quantize`] makes the int8 version and, with the
//! [`calibration`] of the training images, the int4 one, [`eval`] measures them with
//! `infer-core` (the code the device runs), [`safetensors_file`] and the blobs of
//! [`model`] are the files, named in [`file_names`] and written by [`atomic_write`];
//! [`torch_file`] reads a model PyTorch saved with `torch.save`.
//!
//! Without the default `candle` feature only the file formats remain (data, models, files,
//! inspection, pictures): what the fuzz targets and other tools that never train link. PyTorch
//! files then are refused, since candle reads their pickle.

pub mod atomic_write;
#[cfg(feature = "candle")]
pub mod batch;
pub mod bytes;
pub mod calibration;
#[cfg(feature = "candle")]
pub mod checkpoint;
pub mod data;
#[cfg(feature = "candle")]
pub mod device;
pub mod digit;
pub mod eval;
pub mod file_names;
pub mod history;
pub mod inspect;
mod linalg;
#[cfg(feature = "candle")]
pub mod linear;
pub mod model;
pub mod model_file;
#[cfg(feature = "candle")]
pub mod optim;
pub mod plot;
#[cfg(feature = "candle")]
pub mod push;
pub mod quantize;
pub mod safetensors_file;
pub mod settings;
pub mod signing;
pub mod torch_file;
#[cfg(feature = "candle")]
pub mod train;
