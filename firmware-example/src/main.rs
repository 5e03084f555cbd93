//! Classifies embedded MNIST test images with `infer-core` on a Cortex-M4F and reports
//! predictions, accuracy, a digest of every logit bit, instructions and stack per inference.
//!
//! `cargo run --release` runs it on QEMU (see `.cargo/config.toml`); the process exit code is
//! 0 only when the checks at the end pass.
#![no_std]
#![no_main]

use core::fmt::Write;

use cortex_m::peripheral::SCB;
use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::{debug, hprintln};
use crc::{CRC_32_ISO_HDLC, Crc};
use panic_semihosting as _;

use infer::Model;

mod infer;
mod measure;
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
const MIN_ACCURACY_PERCENT: usize = 80;

#[entry]
fn main() -> ! {
    let peripherals = cortex_m::Peripherals::take().expect("peripherals are taken once");
    let passed = run(measure::InstructionCounter::calibrate(peripherals.SYST));
    hprintln!("result: {}", if passed { "PASS" } else { "FAIL" });
    debug::exit(if passed { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    loop {
        cortex_m::asm::wfi();
    }
}

/// Runs `f` with `CCR.UNALIGN_TRP` set: every unaligned load or store faults, as on Cortex-M0
/// cores, so a run proves that infer-core's decoding and inference (fast kernel and
/// compiler-combined loads included) make only aligned accesses. Printing runs without it:
/// core's integer formatting copies digit pairs with unaligned halfword accesses.
fn aligned_only<T>(f: impl FnOnce() -> T) -> T {
    trap_unaligned(true);
    let result = f();
    trap_unaligned(false);
    result
}

/// Sets or clears `CCR.UNALIGN_TRP`.
fn trap_unaligned(on: bool) {
    const UNALIGN_TRP: u32 = 1 << 3;
    // SAFETY: `main` took the peripherals, and only this function writes CCR; the bit changes
    // no memory the program uses.
    unsafe {
        (*SCB::PTR).ccr.modify(|ccr| if on { ccr | UNALIGN_TRP } else { ccr & !UNALIGN_TRP })
    };
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
}

/// A fault (an unaligned access under [`aligned_only`]) ends the run with a failure, not a hang.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    const UNALIGNED: u32 = 1 << 24;
    // SAFETY: a read of the fault status register.
    let cfsr = unsafe { (*SCB::PTR).cfsr.read() };
    let cause = if cfsr & UNALIGNED != 0 { "unaligned access" } else { "fault" };
    trap_unaligned(false); // for the formatting below
    // A stream of its own: the fault may have hit inside `hprintln!`, which holds the shared one.
    if let Ok(mut out) = cortex_m_semihosting::hio::hstdout() {
        let _ = writeln!(out, "error: {cause} at pc {:#010x} (CFSR {cfsr:#010x})", frame.pc());
    }
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

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

    let Some((correct, digest)) = classify_all(&model) else { return false };
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
        "instructions per inference: {} ({} SysTick ticks x {}.{:02} instructions/tick)",
        instructions,
        ticks,
        per_tick / 100,
        per_tick % 100
    );
    let stack = aligned_only(|| {
        measure::stack_high_water(&mut || {
            let _ = core::hint::black_box(model.predict(core::hint::black_box(image)));
        })
    });
    hprintln!("stack high-water per inference: {} bytes", stack);

    correct * 100 >= total * MIN_ACCURACY_PERCENT
}

/// Prints every prediction; returns the number correct and the CRC-32 of all logits' bits
/// (little-endian, image by image), or `None` if an inference failed or the target's fast
/// kernel (SMLAD on this core) disagreed with the portable one by a single bit.
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
