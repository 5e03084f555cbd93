//! Which weights to run: the blob flashed into the WEIGHTS region, or the compiled-in one. With
//! feature `update`, the model store takes the WEIGHTS region's place (`update.rs`).

use crate::Aligned;
use crate::infer::{Error, Model};

/// The project's reference model (`tests/fixtures/`, see its README), as the trainer exports it,
/// in the first scheme of int8, int4 and f32 that the build runs (see `build.rs`).
#[cfg(not(feature = "without-infer-core"))]
static COMPILED_IN: &Aligned<[u8]> = &Aligned(*include_bytes!(env!("FIRMWARE_COMPILED_IN")));
/// Without infer-core, no weights either: the flash they take is counted with infer-core's.
#[cfg(feature = "without-infer-core")]
static COMPILED_IN: &Aligned<[u8]> = &Aligned([]);

/// The key whose signatures this firmware trusts (`FIRMWARE_PUBLIC_KEY` at build time).
#[cfg(feature = "signed")]
pub static PUBLIC_KEY: [u8; 32] = *include_bytes!(concat!(env!("OUT_DIR"), "/public_key.bin"));

/// The lowest security counter accepted (`FIRMWARE_SECURITY_COUNTER` at build time). A real
/// device keeps it in a monotonic counter (OTP, secure element) and raises it to the counter of
/// each blob it accepts; this example fixes it at build time.
#[cfg(feature = "signed")]
pub const SECURITY_COUNTER: u32 =
    u32::from_le_bytes(*include_bytes!(concat!(env!("OUT_DIR"), "/security_counter.bin")));

/// What [`select`] checks, in words.
#[cfg(not(feature = "update"))]
pub const CHECKS: &str = if cfg!(feature = "signed") {
    "signature, security counter, magic, version, shape, CRC-32, values"
} else {
    "magic, version, shape, CRC-32, values"
};

/// Where the weights came from.
#[cfg(not(feature = "update"))]
pub enum Source {
    /// A valid blob in the WEIGHTS region.
    #[cfg(not(feature = "signed"))]
    Flashed,
    /// A valid blob in the WEIGHTS region, signed by the trusted key, with this counter.
    #[cfg(feature = "signed")]
    FlashedSigned {
        /// The envelope's security counter (at least [`SECURITY_COUNTER`]).
        counter: u32,
    },
    /// The compiled-in blob, because the region holds nothing that looks like a blob.
    CompiledInRegionEmpty,
    /// The compiled-in blob, because the region's blob was rejected.
    CompiledInRegionRejected(Error),
}

/// The WEIGHTS region of `memory.x`.
#[cfg(not(feature = "update"))]
pub fn region() -> &'static [u8] {
    unsafe extern "C" {
        static _weights_start: u8;
        static _weights_end: u8;
    }
    // SAFETY: the linker script defines both symbols as the bounds of the WEIGHTS region,
    // which is mapped, readable, and never written while the firmware runs.
    unsafe {
        let start = &raw const _weights_start;
        let len = (&raw const _weights_end).addr() - start.addr();
        core::slice::from_raw_parts(start, len)
    }
}

/// Validates the flashed blob (with `signed`: signature and counter first; then magic,
/// version, dimensions, CRC-32, values) and uses it, or falls back to the compiled-in blob and
/// says why. The compiled-in blob is trusted: it is part of the firmware image.
#[cfg(not(feature = "update"))]
pub fn select(region: &'static [u8]) -> Result<(Model<'static>, Source), Error> {
    let erased = || region.iter().take(16).all(|&b| b == 0x00 || b == 0xFF);
    let source = match flashed(region) {
        Ok(selected) => return Ok(selected),
        Err(Error::BadMagic) if erased() => Source::CompiledInRegionEmpty,
        Err(error) => Source::CompiledInRegionRejected(error),
    };
    Ok((Model::from_blob(&COMPILED_IN.0)?, source))
}

/// The compiled-in model: what the device runs while the model store holds none.
#[cfg(feature = "update")]
pub fn compiled_in() -> Result<Model<'static>, Error> {
    Model::from_blob(&COMPILED_IN.0)
}

#[cfg(not(any(feature = "signed", feature = "update")))]
fn flashed(region: &'static [u8]) -> Result<(Model<'static>, Source), Error> {
    Ok((Model::from_region(region)?, Source::Flashed))
}

#[cfg(all(feature = "signed", not(feature = "update")))]
fn flashed(region: &'static [u8]) -> Result<(Model<'static>, Source), Error> {
    let (verified, _) = infer_core::signed::open_prefix(region, &PUBLIC_KEY, SECURITY_COUNTER)?;
    Ok((Model::from_blob(verified.blob)?, Source::FlashedSigned { counter: verified.counter }))
}
