//! Cortex-M55 and other Armv8.1-M cores with MVE (Helium): VMLADAVA.S8 multiplies 16 pairs of
//! i8 and adds the products to a general-purpose register, in one instruction.
//!
//! MVE has no u8 x i8 form of it, so the pixels are offset into i8 (`p ^ 0x80` is `p - 128`,
//! one `veor` per 16 pixels) and each sum starts at `128 * sum(row)`, which
//! [`Prepared`](super::Prepared) computes once per model: `sum w * (p - 128) + 128 * sum w` is
//! `sum w * p`, exactly (in i32, which cannot overflow below `MAX_INPUTS`). Rust exposes no MVE
//! intrinsics on stable, so this is inline assembly, checked against [`super::portable`] bit for
//! bit by the firmware test under QEMU. Like floating point, MVE must be enabled (CPACR CP10 and
//! CP11) before use, as `cortex-m-rt` does on `eabihf` targets.
//!
//! Per 16 pixels, one load and one `veor` for the pixels, then for each of 5 classes one load of
//! 16 weights and one `vmladava`: 12 instructions per 80 multiply-adds. The loop body holds 7
//! such steps, so the loop instruction (`le`) is paid once per 112 pixels. One assembly block
//! makes two such passes over the pixels, for 10 classes, with no function call in between.
//!
//! int4 rows ([`int4_dots`]) are unpacked in registers. 16 bytes hold 32 weights: `vshl.i8 #4`
//! leaves `16 * low` in each byte and `vand` with 0xF0 `16 * high`, both exact in i8. The pixels
//! are loaded de-interleaved, the even ones into one vector and the odd ones into another
//! (`vld20.8` and `vld21.8`, 32 bytes), and offset as for int8, so a class takes one `vmladava`
//! per nibble. Every product is then 16 times too large: the sums start at `16 * 128 * sum(row)`
//! ([`int4_starts`]) and are shifted right by 4 at the end, which is exact, the whole sum being
//! 16 times an integer (below `2^24` in magnitude: no overflow). Per 32 pixels: 2 loads and 2
//! `veor`s for the pixels, then for each of 5 classes one load of 16 bytes, one `vshl`, one
//! `vand` and two `vmladava`s: 29 instructions per 160 multiply-adds. As 784 is 16 + 24 * 32,
//! each pass starts with a head of 16 pixels: 32 are loaded, and the upper halves of the even
//! and odd vectors (pixels 16 to 31) are set to zero (`vmov d1` and `d3`), so that the 8 bytes
//! past the first 8 of each row, loaded with them, multiply zeros: 8 instructions for the pixels
//! and 25 for the rows. Then 8 loop iterations of 3 steps of 32 pixels (704 instructions), and
//! the shifts and stores. Both passes run the same code, a loop of 2, which costs 3 instructions
//! a pass and saves the flash of a second copy.
#![allow(unsafe_code)]

use core::arch::asm;
use core::mem::MaybeUninit;

use super::Sums;
use crate::MAX_CLASSES;

/// The input size this kernel is built for (MNIST's 28 x 28): 7 loop iterations of 112 pixels.
const INPUTS: usize = 784;
/// Pixels per loop iteration: 7 vectors of 16.
const BLOCK: usize = 7 * 16;
/// Classes per pass: their accumulators must be even registers (VMLADAVA's `Rda`), and 5 of
/// them, 5 row pointers, the pixel pointer and the loop counter fill the usable registers.
const GROUP: usize = 5;
/// Classes per assembly block: two passes.
const PAIR: usize = 2 * GROUP;
const _: () = assert!(INPUTS.is_multiple_of(BLOCK), "whole loop iterations");

/// See [`super::Prepared::dots`], with `starts[c] = 128 * sum(row c)` ([`starts`]);
/// `sums` back, untouched, for shapes this kernel does not cover (it needs [`INPUTS`] inputs
/// and [`PAIR`] to `MAX_CLASSES` classes).
pub(crate) fn int8_dots<'s>(
    weights: &[u8],
    starts: &[i32; MAX_CLASSES],
    pixels: &[u8],
    classes: usize,
    sums: &'s mut Sums,
) -> Result<&'s [i32], &'s mut Sums> {
    let rest = super::portable::int8_dots;
    around_pair::<{ PAIR * INPUTS }>(weights, starts, pixels, classes, sums, rest, pair)
}

/// An assembly block of two passes: `PAIR` rows of `N / PAIR` bytes, the pixels, where each
/// row's sum starts, and the sums it writes.
type Pair<const N: usize> =
    fn(&[u8; N], &[u8; INPUTS], &[i32; PAIR], &mut [MaybeUninit<i32>; PAIR]);

/// What [`int8_dots`] and [`int4_dots`] do around their assembly (`pair`, on rows of `N / PAIR`
/// bytes): classes past the first [`PAIR`] (at most 6, as `MAX_CLASSES` is 16) go to the
/// portable kernel (`rest`), first: nothing then stays live across the assembly. Byte vector
/// loads need no alignment.
fn around_pair<'s, const N: usize>(
    weights: &[u8],
    starts: &[i32; MAX_CLASSES],
    pixels: &[u8],
    classes: usize,
    sums: &'s mut Sums,
    rest: fn(&[u8], &[u8], &mut [i32]),
    pair: Pair<N>,
) -> Result<&'s [i32], &'s mut Sums> {
    let (Ok(pixels), Some((rows, rest_rows)), Some(starts), PAIR..=MAX_CLASSES) = (
        <&[u8; INPUTS]>::try_from(pixels),
        weights.split_first_chunk::<N>(),
        starts.first_chunk(),
        classes,
    ) else {
        return Err(sums);
    };
    let sums: *mut i32 = sums.as_mut_ptr().cast();
    // SAFETY: `sums` points to MAX_CLASSES i32 of room, aligned and only reachable through it,
    // and PAIR <= classes <= MAX_CLASSES: the entries [PAIR, classes) are written (zeros for the
    // portable kernel) before that slice of them is made; the first PAIR are written by `pair`
    // through a reference to them as uninitialized words, before the slice of all `classes` is
    // made and returned with the borrow of `sums`.
    unsafe {
        if classes > PAIR {
            for c in PAIR..classes {
                sums.add(c).write(0);
            }
            rest(
                rest_rows,
                pixels,
                core::slice::from_raw_parts_mut(sums.add(PAIR), classes - PAIR),
            );
        }
        pair(rows, pixels, starts, &mut *sums.cast());
        Ok(core::slice::from_raw_parts(sums, classes))
    }
}

/// int4: bytes per row, two weights in each.
const ROW: usize = INPUTS / 2;
/// int4: steps of 32 pixels (16 bytes of each row) per loop iteration.
const STEPS: usize = 3;
/// int4: the pixels before the loop, in each pass (see [`int4_pair`]).
const HEAD: usize = INPUTS % (32 * STEPS);
/// int4: loop iterations per pass.
const LOOPS: usize = INPUTS / (32 * STEPS);
const _: () = assert!(HEAD == 16, "a head of 8 bytes per row, half a vector");

/// See [`super::Prepared::dots`], with `starts[c] = 16 * 128 * sum(row c)` ([`int4_starts`]);
/// `sums` back, untouched, for shapes this kernel does not cover (it needs [`INPUTS`] inputs,
/// rows of [`ROW`] bytes, and [`PAIR`] to `MAX_CLASSES` classes).
pub(crate) fn int4_dots<'s>(
    weights: &[u8],
    starts: &[i32; MAX_CLASSES],
    pixels: &[u8],
    classes: usize,
    sums: &'s mut Sums,
) -> Result<&'s [i32], &'s mut Sums> {
    let rest = super::portable::int4_dots;
    around_pair::<{ PAIR * ROW }>(weights, starts, pixels, classes, sums, rest, int4_pair)
}

/// `16 * 128 * sum(row c)` for each int4 row of `inputs` weights in `weights` (0 past the last):
/// where [`int4_dots`] starts the sums. No overflow: `2^11 * 8 * MAX_INPUTS` is `2^30`.
#[inline(never)]
pub(crate) fn int4_starts(weights: &[u8], inputs: usize) -> [i32; MAX_CLASSES] {
    use super::portable::{high, low};
    let stride = inputs.div_ceil(2);
    let mut starts = [0; MAX_CLASSES];
    for (c, start) in starts.iter_mut().enumerate() {
        let row = weights.get(c * stride..(c + 1) * stride).unwrap_or_default();
        *start = 16 * 128 * row.iter().map(|&b| low(b) + high(b)).sum::<i32>();
    }
    starts
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

/// One pass: 5 rows against the pixels, 7 loop iterations of 7 steps.
macro_rules! pass {
    () => {
        concat!(
            "dls lr, lr\n",
            "2:\n",
            step!(),
            step!(),
            step!(),
            step!(),
            step!(),
            step!(),
            step!(),
            "le lr, 2b\n",
        )
    };
}

/// `dots = starts + ` the dot products of 10 rows with the offset pixels, in two passes of 5.
/// The assembly loads the starts and stores the sums itself, through pointer registers that
/// are free at that moment (the addresses wait in `s16` and `s17`), and derives the row
/// pointers from the first: fewer registers for the compiler to fill around it. Between the
/// passes, the pixel pointer is rewound, and row 4's pointer, at its end, is where row 5 starts.
fn pair(
    rows: &[u8; PAIR * INPUTS],
    pixels: &[u8; INPUTS],
    starts: &[i32; PAIR],
    dots: &mut [MaybeUninit<i32>; PAIR],
) {
    // An address for an `s` register: its bits, as an i32.
    let address = |pointer: *const i32| pointer.expose_provenance() as i32;
    let dots: *mut i32 = dots.as_mut_ptr().cast();
    // SAFETY: each pass runs its loop INPUTS / BLOCK times and each time reads BLOCK bytes from
    // each pointer, advancing it: so `pixels` whole, twice, and row k at offsets
    // k * INPUTS + [0, INPUTS) of `rows` for k < 10, inside the arrays (their types fix the
    // lengths). Byte loads need no alignment. Other memory accesses: `starts` read and `dots`
    // written, 10 aligned words each. Registers written: q0-q3 (d0-d7), the accumulators, the
    // pointers and lr, all declared.
    unsafe {
        asm!(
            "vmov.i8 q1, #0x80",
            "vmov {w1}, s17",
            "ldm {w1}, {{r0, r2, r4, r8, r10}}",
            "add {w1}, {w0}, #{inputs}",
            "add {w2}, {w0}, #2 * {inputs}",
            "add {w3}, {w0}, #3 * {inputs}",
            "add {w4}, {w0}, #4 * {inputs}",
            "mov lr, #{loops}",
            pass!(),
            "vmov {w0}, s16",
            "stm {w0}, {{r0, r2, r4, r8, r10}}",
            "vmov {w0}, s17",
            "add {w0}, {w0}, #4 * {group}",
            "ldm {w0}, {{r0, r2, r4, r8, r10}}",
            "sub {pp}, {pp}, #{inputs}",
            "mov {w0}, {w4}",
            "add {w1}, {w4}, #{inputs}",
            "add {w2}, {w4}, #2 * {inputs}",
            "add {w3}, {w4}, #3 * {inputs}",
            "add {w4}, {w4}, #4 * {inputs}",
            "mov lr, #{loops}",
            pass!(),
            "vmov {w0}, s16",
            "add {w0}, {w0}, #4 * {group}",
            "stm {w0}, {{r0, r2, r4, r8, r10}}",
            pp = inout(reg) pixels.as_ptr() => _,
            w0 = inout(reg) rows.as_ptr() => _,
            w1 = out(reg) _,
            w2 = out(reg) _,
            w3 = out(reg) _,
            w4 = out(reg) _,
            inputs = const INPUTS,
            loops = const INPUTS / BLOCK,
            group = const GROUP,
            out("lr") _,
            out("r0") _,
            out("r2") _,
            out("r4") _,
            out("r8") _,
            out("r10") _,
            in("s16") address(dots),
            in("s17") address(starts.as_ptr()),
            out("d0") _,
            out("d1") _,
            out("d2") _,
            out("d3") _,
            out("d4") _,
            out("d5") _,
            out("d6") _,
            out("d7") _,
            options(nostack),
        );
    }
}

/// int4: the pixels of one step of 32, de-interleaved (the even ones into `q0`, the odd ones
/// into `q1`) and offset into i8 (`q2` holds 0x80 in every byte).
macro_rules! int4_pixels {
    () => {
        concat!(
            "vld20.8 {{q0, q1}}, [{pp}]\n",
            "vld21.8 {{q0, q1}}, [{pp}]!\n",
            "veor q0, q0, q2\n",
            "veor q1, q1, q2\n",
        )
    };
}

/// int4: for each of 5 rows, 16 bytes loaded (the pointer then advancing by `$advance`), the
/// low nibbles times 16 (`vshl`) against the even pixels and the high ones times 16 (`vand`
/// with `q3`, 0xF0 in every byte) against the odd ones. Each row's load is issued before the
/// previous row's multiplies (alternating `q4`/`q6`, `q5` the shifted copy), so that it does
/// not wait on them. (Not formatted: rustfmt would spread each load over three lines.)
#[rustfmt::skip]
macro_rules! int4_rows {
    ($advance:literal) => {
        concat!(
            "vldrb.u8 q4, [{w0}], #", $advance, "\n",
            "vshl.i8 q5, q4, #4\n",
            "vand q4, q4, q3\n",
            "vldrb.u8 q6, [{w1}], #", $advance, "\n",
            "vmladava.s8 r0, q5, q0\n",
            "vmladava.s8 r0, q4, q1\n",
            "vshl.i8 q5, q6, #4\n",
            "vand q6, q6, q3\n",
            "vldrb.u8 q4, [{w2}], #", $advance, "\n",
            "vmladava.s8 r2, q5, q0\n",
            "vmladava.s8 r2, q6, q1\n",
            "vshl.i8 q5, q4, #4\n",
            "vand q4, q4, q3\n",
            "vldrb.u8 q6, [{w3}], #", $advance, "\n",
            "vmladava.s8 r4, q5, q0\n",
            "vmladava.s8 r4, q4, q1\n",
            "vshl.i8 q5, q6, #4\n",
            "vand q6, q6, q3\n",
            "vldrb.u8 q4, [{w4}], #", $advance, "\n",
            "vmladava.s8 r8, q5, q0\n",
            "vmladava.s8 r8, q6, q1\n",
            "vshl.i8 q5, q4, #4\n",
            "vand q4, q4, q3\n",
            "vmladava.s8 r10, q5, q0\n",
            "vmladava.s8 r10, q4, q1\n",
        )
    };
}

/// `dots = (starts + ` the dot products of 10 int4 rows, unpacked times 16, with the offset
/// pixels`) >> 4`, in a loop of two passes of 5 rows. As in [`pair`], the assembly loads the
/// starts and stores the sums itself, through a pointer register free at that moment (the
/// addresses wait in `s28` and `s29`, advanced by each pass), and derives the row pointers from
/// the first. Each pass: the head (16 pixels, 8 bytes of each row, see the module docs), then
/// [`LOOPS`] iterations of [`STEPS`] steps; then the pixel pointer is rewound, and row 4's
/// pointer, at its end, is where the next pass's row 0 starts; the loop ends there when that is
/// the end of the 10 rows (in `s30`). Never inlined: it uses `q4` to `q7`, which a function
/// must preserve, and their saving then stays out of the int8 path.
#[inline(never)]
fn int4_pair(
    rows: &[u8; PAIR * ROW],
    pixels: &[u8; INPUTS],
    starts: &[i32; PAIR],
    dots: &mut [MaybeUninit<i32>; PAIR],
) {
    // An address for an `s` register: its bits, as an i32.
    let address = |pointer: *const u8| pointer.expose_provenance() as i32;
    let dots: *mut i32 = dots.as_mut_ptr().cast();
    // SAFETY: each pass reads bytes [0, 32) of `pixels` (the head), then [16, INPUTS) (LOOPS
    // iterations of STEPS steps of 32, INPUTS = HEAD + 32 * STEPS * LOOPS); and 16 bytes at the
    // start of row k (the head), then its bytes [8, ROW) (16 per step), for k < 5 from
    // `rows + 5 * ROW * pass`: rows 0 to 9 of `rows` in the two passes, which run as long as
    // row 0's pointer is not `rows + 10 * ROW`, the end of `rows` (in s30). All inside the
    // arrays, whose types fix the lengths; byte loads need no alignment. Other memory accesses:
    // `starts` read and `dots` written, 10 aligned words each. Registers written: q0-q6
    // (d0-d13), s28 and s29, the accumulators, the pointers, lr and the flags, all declared.
    unsafe {
        asm!(
            "vmov.i8 q2, #0x80",
            "vmov.i8 q3, #0xf0",
            "3:",
            // The head: 32 pixels loaded and offset, then lanes [8, 16) of each vector, the
            // upper halves d1 and d3, zeroed: what is left are the first 16 pixels.
            "vld20.8 {{q0, q1}}, [{pp}]",
            "vld21.8 {{q0, q1}}, [{pp}]",
            "veor q0, q0, q2",
            "veor q1, q1, q2",
            "mov r0, #0",
            "vmov d1, r0, r0",
            "vmov d3, r0, r0",
            "add {pp}, {pp}, #{head}",
            "vmov {w1}, s29",
            "ldm {w1}!, {{r0, r2, r4, r8, r10}}",
            "vmov s29, {w1}",
            "add {w1}, {w0}, #{row}",
            "add {w2}, {w0}, #2 * {row}",
            "add {w3}, {w0}, #3 * {row}",
            "add {w4}, {w0}, #4 * {row}",
            int4_rows!(8),
            "mov lr, #{loops}",
            "dls lr, lr",
            "2:",
            int4_pixels!(),
            int4_rows!(16),
            int4_pixels!(),
            int4_rows!(16),
            int4_pixels!(),
            int4_rows!(16),
            "le lr, 2b",
            "asr r0, r0, #4",
            "asr r2, r2, #4",
            "asr r4, r4, #4",
            "asr r8, r8, #4",
            "asr r10, r10, #4",
            "vmov {w1}, s28",
            "stm {w1}!, {{r0, r2, r4, r8, r10}}",
            "vmov s28, {w1}",
            "sub {pp}, {pp}, #{inputs}",
            "mov {w0}, {w4}",
            "vmov {w1}, s30",
            "cmp {w0}, {w1}",
            "bne 3b",
            pp = inout(reg) pixels.as_ptr() => _,
            w0 = inout(reg) rows.as_ptr() => _,
            w1 = out(reg) _,
            w2 = out(reg) _,
            w3 = out(reg) _,
            w4 = out(reg) _,
            row = const ROW,
            inputs = const INPUTS,
            head = const HEAD,
            loops = const LOOPS,
            out("lr") _,
            out("r0") _,
            out("r2") _,
            out("r4") _,
            out("r8") _,
            out("r10") _,
            inout("s28") address(dots.cast()) => _,
            inout("s29") address(starts.as_ptr().cast()) => _,
            in("s30") address(rows.as_ptr_range().end),
            out("d0") _,
            out("d1") _,
            out("d2") _,
            out("d3") _,
            out("d4") _,
            out("d5") _,
            out("d6") _,
            out("d7") _,
            out("d8") _,
            out("d9") _,
            out("d10") _,
            out("d11") _,
            out("d12") _,
            out("d13") _,
            options(nostack),
        );
    }
}
