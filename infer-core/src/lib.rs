#![doc = include_str!("../README.md")]
#![no_std]
// No unsafe code, except the inline-assembly kernels `kernel::arm_dsp` and `kernel::arm_mve`
// (features `arm-dsp` and `arm-mve`, Arm only).
#![cfg_attr(
    not(all(target_arch = "arm", any(feature = "arm-dsp", feature = "arm-mve"))),
    forbid(unsafe_code)
)]
#![cfg_attr(
    all(target_arch = "arm", any(feature = "arm-dsp", feature = "arm-mve")),
    deny(unsafe_code)
)]
// A build that leaves out a scheme (features `f32`, `int8`, `int4`) leaves its code unused.
#![cfg_attr(
    not(all(feature = "f32", feature = "int8", feature = "int4")),
    allow(dead_code, irrefutable_let_patterns, unreachable_code, unused_imports, unused_variables)
)]
#[cfg(not(any(feature = "f32", feature = "int8", feature = "int4")))]
compile_error!("infer-core runs no model without one of its features `f32`, `int8`, `int4`");

#[cfg(feature = "encode")]
extern crate alloc;
// Run-time detection of the CPU's instruction sets (feature `host`).
#[cfg(feature = "host")]
extern crate std;

pub mod blob;
mod error;
mod exp;
mod kernel;
#[cfg(feature = "link")]
pub mod link;
mod model;
#[cfg(feature = "signed")]
pub mod signed;
pub mod softmax;
#[cfg(feature = "store")]
pub mod store;
mod values;

pub use blob::Scheme;
pub use error::{Error, Field};
pub use model::{Model, Prediction, normalize_pixel};
pub use values::{MAX_CLASSES, MAX_INPUTS, PerClass};

/// The instruction set the 64-bit host kernels use on this CPU (`avx512-vnni`, `avx2`,
/// `baseline` or `neon`): the widest the CPU has with the `host` feature, else the target's
/// baseline. For reports next to timings.
#[cfg(target_pointer_width = "64")]
pub fn host_kernel() -> &'static str {
    kernel::Level::best().name()
}
