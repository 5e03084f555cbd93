//! Which weights to run: the blob flashed into the WEIGHTS region, or the compiled-in one.

use infer_core::{Error, Model};

/// A blob exported by the trainer and committed (`model/`), regenerated with
/// `cargo run --release -p trainer -- train --out-dir firmware-example/model`.
static COMPILED_IN: &Aligned<[u8]> = &Aligned(*include_bytes!("../model/model.int8.postcard"));

/// Word alignment for the embedded blob, so weights can be read with aligned loads.
#[repr(C, align(4))]
struct Aligned<T: ?Sized>(T);

/// Where the weights came from.
pub enum Source {
    /// A valid blob in the WEIGHTS region.
    Flashed,
    /// The compiled-in blob, because the region holds nothing that looks like a blob.
    CompiledInRegionEmpty,
    /// The compiled-in blob, because the region's blob was rejected.
    CompiledInRegionRejected(Error),
}

/// The WEIGHTS region of `memory.x`.
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

/// Validates the flashed blob (magic, version, dimensions, CRC-32, values) and uses it, or
/// falls back to the compiled-in blob and says why.
pub fn select(region: &'static [u8]) -> Result<(Model<'static>, Source), Error> {
    match Model::from_region(region) {
        Ok(model) => Ok((model, Source::Flashed)),
        Err(error) => {
            let erased = region.iter().take(16).all(|&b| b == 0x00 || b == 0xFF);
            let source = match error {
                Error::BadMagic if erased => Source::CompiledInRegionEmpty,
                error => Source::CompiledInRegionRejected(error),
            };
            Ok((Model::from_blob(&COMPILED_IN.0)?, source))
        }
    }
}
