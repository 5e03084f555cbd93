//! Cortex-M55 and other Armv8.1-M cores with MVE (Helium): VMLADAVA.S8 multiplies 16 pairs of
//! i8 and adds the products to a general-purpose register, in one instruction.
//!
//! MVE has no u8 x i8 form of it, so the pixels are offset into i8 (`p ^ 0x80` is `p - 128`,
//! one `veor` per 16 pixels) and each sum starts at `128 * sum(row)`, which
//! [`Prepared`](super::Prepared) computes once per model: `sum w * (p - 128) + 128 * sum w` is
//! `sum w * p`, exactly (in i32, which cannot overflow below `MAX_INPUTS`). Rust exposes no MVE
//! intrinsics on stable, so this is inline assembly, checked against [`super::portable`] bit for
//! bit by the firmware test under QEMU.
//!
//! Per 16 pixels, one load and one `veor` for the pixels, then for each of 5 classes one load of
//! 16 weights and one `vmladava`: 12 instructions per 80 multiply-adds. The loop body holds 7
//! such steps, so the loop instruction (`le`) is paid once per 112 pixels.
#![allow(unsafe_code)]

use core::arch::asm;

use crate::MAX_CLASSES;

/// The input size this kernel is built for (MNIST's 28 x 28): 7 loop iterations of 112 pixels.
const INPUTS: usize = 784;
/// Pixels per loop iteration: 7 vectors of 16.
const BLOCK: usize = 7 * 16;
/// Classes per pass: their accumulators must be even registers (VMLADAVA's `Rda`), and 5 of
/// them, 5 row pointers, the pixel pointer and the loop counter fill the usable registers.
const GROUP: usize = 5;
const _: () = assert!(INPUTS.is_multiple_of(BLOCK), "whole loop iterations");

/// See [`super::int8_dots`], with `starts[c] = 128 * sum(row c)` ([`starts`]); `false`
/// (nothing done) for inputs this kernel does not cover. Classes past the last group of
/// [`GROUP`] go to the portable kernel. Byte vector loads need no alignment.
pub(crate) fn int8_dots(
    weights: &[u8],
    starts: &[i32; MAX_CLASSES],
    pixels: &[u8],
    dots: &mut [i32],
) -> bool {
    let Ok(pixels) = <&[u8; INPUTS]>::try_from(pixels) else { return false };
    let (groups, rest) = dots.as_chunks_mut::<GROUP>();
    let rows = weights.as_chunks::<{ GROUP * INPUTS }>().0;
    for ((out, rows), starts) in groups.iter_mut().zip(rows).zip(starts.as_chunks().0) {
        group(rows, pixels, starts, out);
    }
    if !rest.is_empty() {
        let rest_rows = weights.get(GROUP * INPUTS * groups.len()..).unwrap_or_default();
        super::portable::int8_dots(rest_rows, pixels, rest);
    }
    true
}

/// `128 * sum(row c)` for each row of `inputs` bytes in `weights` (0 past the last): where
/// [`int8_dots`] starts the sums. No overflow: `128 * 128 * MAX_INPUTS` is `2^30`.
pub(crate) fn starts(weights: &[u8], inputs: usize) -> [i32; MAX_CLASSES] {
    let mut starts = [0; MAX_CLASSES];
    for (c, start) in starts.iter_mut().enumerate() {
        let row = weights.get(c * inputs..(c + 1) * inputs).unwrap_or_default();
        *start = 128 * row.iter().map(|&w| i32::from(w as i8)).sum::<i32>();
    }
    starts
}

/// One step of 16 pixels: the pixels are loaded and offset into i8 (`q1` holds 0x80 in every
/// byte), then for each row 16 weights are loaded (alternating `q2`/`q3`, so that a load does
/// not wait on the previous multiply) and multiplied-accumulated into the row's sum.
macro_rules! step {
    () => {
        concat!(
            "vldrb.u8 q0, [{pp}], #16\n",
            "veor q0, q0, q1\n",
            "vldrb.u8 q2, [{w0}], #16\n",
            "vmladava.s8 r0, q2, q0\n",
            "vldrb.u8 q3, [{w1}], #16\n",
            "vmladava.s8 r2, q3, q0\n",
            "vldrb.u8 q2, [{w2}], #16\n",
            "vmladava.s8 r4, q2, q0\n",
            "vldrb.u8 q3, [{w3}], #16\n",
            "vmladava.s8 r8, q3, q0\n",
            "vldrb.u8 q2, [{w4}], #16\n",
            "vmladava.s8 r10, q2, q0\n",
        )
    };
}

/// The dot products of 5 rows with the pixels, each started at its `starts`, into `out`.
#[inline(never)]
fn group(
    rows: &[u8; GROUP * INPUTS],
    pixels: &[u8; INPUTS],
    starts: &[i32; GROUP],
    out: &mut [i32; GROUP],
) {
    let [mut a0, mut a1, mut a2, mut a3, mut a4] = *starts;
    let row = |k: usize| rows.as_ptr().wrapping_add(k * INPUTS);
    // SAFETY: the loop runs INPUTS / BLOCK times and each time reads BLOCK bytes from each
    // pointer, advancing it: so `pixels` whole, and row k at offsets k * INPUTS + [0, INPUTS)
    // of `rows`, inside the arrays (their types fix the lengths). Byte loads need no alignment.
    // Only registers are written: q0-q3 (d0-d7), the accumulators, the pointers and lr, all
    // declared.
    unsafe {
        asm!(
            "vmov.i8 q1, #0x80",
            "dls lr, lr",
            "2:",
            step!(),
            step!(),
            step!(),
            step!(),
            step!(),
            step!(),
            step!(),
            "le lr, 2b",
            pp = inout(reg) pixels.as_ptr() => _,
            w0 = inout(reg) row(0) => _,
            w1 = inout(reg) row(1) => _,
            w2 = inout(reg) row(2) => _,
            w3 = inout(reg) row(3) => _,
            w4 = inout(reg) row(4) => _,
            inout("lr") INPUTS / BLOCK => _,
            inout("r0") a0,
            inout("r2") a1,
            inout("r4") a2,
            inout("r8") a3,
            inout("r10") a4,
            out("d0") _,
            out("d1") _,
            out("d2") _,
            out("d3") _,
            out("d4") _,
            out("d5") _,
            out("d6") _,
            out("d7") _,
            options(nostack, readonly),
        );
    }
    *out = [a0, a1, a2, a3, a4];
}
