//! Classifies embedded MNIST test images with `infer-core` and reports predictions, accuracy,
//! a digest of every logit bit, instructions and stack per inference. The same program runs on
//! every board; `board` holds what differs.
//!
//! `cargo run --release` runs it on the Cortex-M4F under QEMU (see `.cargo/config.toml`),
//! `scripts/firmware.sh CORE` on any core; the process exit code is 0 only when the checks at
//! the end pass.
#![no_std]
#![no_main]

use crc::{CRC_32_ISO_HDLC, Crc};

use board::hprintln;
use infer::Model;

mod board;
#[cfg(feature = "update")]
mod flash;
mod infer;
mod measure;
#[cfg(feature = "update")]
mod update;
mod weights;

const PIXELS: usize = 28 * 28;
/// Aligned like the blobs, so that the SMLAD kernel, which needs word-aligned pixels, runs.
static IMAGES: &Aligned<[u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/test_images.bin")));
static LABELS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/test_labels.bin"));

/// 16-byte alignment in flash: a version 2 blob's arrays are 16-byte aligned from its start,
/// so they are aligned in memory when the blob is.
#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);

/// The firmware fails its run below this accuracy on the embedded images (percent).
#[cfg(not(feature = "update"))]
const MIN_ACCURACY_PERCENT: usize = 80;

/// The kernel infer-core runs int8 and int4 models with on this build.
const KERNEL: &str = if cfg!(feature = "arm-mve") {
    "Helium (arm-mve)"
} else if cfg!(feature = "arm-dsp") {
    "SMLAD (arm-dsp)"
} else {
    "portable"
};

/// The whole run, from the board's entry; true if the checks pass.
fn program(ticker: board::Ticker) -> bool {
    hprintln!(
        "board: {}; kernel: {}; unaligned accesses: {}",
        board::NAME,
        KERNEL,
        board::UNALIGNED
    );
    let counter = measure::InstructionCounter::calibrate(ticker);
    #[cfg(not(feature = "update"))]
    let passed = run(counter);
    // Serves updates until the process ends; returns only if the store cannot be used.
    #[cfg(feature = "update")]
    let passed = update::serve(counter);
    hprintln!("result: {}", if passed { "PASS" } else { "FAIL" });
    passed
}

/// Runs `f` with unaligned accesses trapping where the core can (see `board::UNALIGNED`), so a
/// run proves that infer-core's decoding and inference (fast kernel and compiler-combined loads
/// included) make only aligned accesses. Printing runs without it: core's integer formatting
/// copies digit pairs with unaligned halfword accesses.
fn aligned_only<T>(f: impl FnOnce() -> T) -> T {
    board::trap_unaligned(true);
    let result = f();
    board::trap_unaligned(false);
    result
}

#[cfg(not(feature = "update"))]
fn run(mut counter: measure::InstructionCounter) -> bool {
    let region = weights::region();
    let mut selected = None;
    let (validation, _) =
        aligned_only(|| counter.count(&mut || selected = Some(weights::select(region))));
    let (model, source) = match selected {
        Some(Ok(selected)) => selected,
        Some(Err(error)) => {
            hprintln!("error: compiled-in blob rejected: {}", error);
            return false;
        }
        None => return false,
    };
    match source {
        #[cfg(not(feature = "signed"))]
        weights::Source::Flashed => {
            hprintln!("weights: flashed, WEIGHTS region at {:#010x}", region.as_ptr().addr())
        }
        #[cfg(feature = "signed")]
        weights::Source::FlashedSigned { counter } => hprintln!(
            "weights: flashed, signature verified, security counter {} (minimum {}), WEIGHTS region at {:#010x}",
            counter,
            weights::SECURITY_COUNTER,
            region.as_ptr().addr()
        ),
        weights::Source::CompiledInRegionEmpty => {
            hprintln!("weights: compiled-in (WEIGHTS region is empty)")
        }
        weights::Source::CompiledInRegionRejected(e) => {
            hprintln!("weights: compiled-in (WEIGHTS region rejected: {})", e)
        }
    }
    hprintln!(
        "model: {:?}, {} inputs, {} classes",
        model.scheme(),
        model.inputs(),
        model.classes()
    );
    let validation_stack = aligned_only(|| {
        measure::stack_high_water(&mut || {
            let _ = core::hint::black_box(weights::select(core::hint::black_box(region)));
        })
    });
    hprintln!(
        "weights validated ({}) in {} instructions, {} bytes of stack",
        weights::CHECKS,
        validation,
        validation_stack
    );

    let Some((correct, _)) = evaluate(&model, &mut counter) else { return false };
    correct * 100 >= LABELS.len() * MIN_ACCURACY_PERCENT
}

/// Reports `model` on the embedded images (each prediction, accuracy, logits digest) and its
/// instructions and stack per inference; returns the number correct and the digest, or `None`
/// if an inference failed.
fn evaluate(model: &Model<'_>, counter: &mut measure::InstructionCounter) -> Option<(usize, u32)> {
    let (correct, digest) = classify_all(model)?;
    let total = LABELS.len();
    hprintln!("accuracy: {}/{}", correct, total);
    hprintln!("logits digest: {:#010x}", digest);

    let image = &IMAGES.0[..PIXELS];
    let (instructions, ticks) = aligned_only(|| {
        counter.count(&mut || {
            let _ = core::hint::black_box(model.classify(core::hint::black_box(image)));
        })
    });
    let per_tick = counter.per_tick_x100();
    hprintln!(
        "instructions per inference: {} ({} {} ticks x {}.{:02} instructions/tick)",
        instructions,
        ticks,
        board::COUNTER,
        per_tick / 100,
        per_tick % 100
    );
    let stack = aligned_only(|| {
        measure::stack_high_water(&mut || {
            let _ = core::hint::black_box(model.predict(core::hint::black_box(image)));
        })
    });
    hprintln!("stack high-water per inference: {} bytes", stack);

    Some((correct, digest))
}

/// Prints every prediction; returns the number correct and the CRC-32 of all logits' bits
/// (little-endian, image by image), or `None` if an inference failed or the target's fast
/// kernel (SMLAD on cores with DSP) disagreed with the portable one by a single bit.
fn classify_all(model: &Model<'_>) -> Option<(usize, u32)> {
    let crc = Crc::<u32>::new(&CRC_32_ISO_HDLC);
    let mut digest = crc.digest();
    let mut correct = 0;
    for (i, (image, &label)) in IMAGES.0.chunks_exact(PIXELS).zip(LABELS).enumerate() {
        let inferred =
            aligned_only(|| model.predict(image).map(|p| (model.logits_portable(image).ok(), p)));
        match inferred {
            Ok((portable, prediction)) if portable.as_ref() != Some(&prediction.logits) => {
                hprintln!("error: image {}: the fast kernel differs from the portable one", i);
                return None;
            }
            Ok((_, prediction)) => {
                for logit in &prediction.logits {
                    digest.update(&logit.to_bits().to_le_bytes());
                }
                correct += usize::from(prediction.class == usize::from(label));
                hprintln!("image {}: label {} predicted {}", i, label, prediction.class);
            }
            Err(error) => {
                hprintln!("error: image {}: {}", i, error);
                return None;
            }
        }
    }
    Some((correct, digest.finalize()))
}
