//! Cortex-M4/M7/M33 with the DSP extension: SMLAD, two 16-bit multiply-accumulates per
//! instruction, for int8 and int4 weights.
//!
//! rustc does not form SMLAD from safe Rust for an i8 x u8 dot product (it emits
//! `ldrsb` + `ldrb` + `smlabb`, 3 instructions per multiply-add), and `core::arch::arm::__smlad`
//! is unstable, so this is the one place in the crate with `unsafe`: inline assembly, checked
//! against [`super::portable`] bit for bit by the firmware test under QEMU.
//!
//! **int8.** Per 4 pixels (one word), the pixels are split once into two registers of 16-bit halves
//! (`uxtb16`: bytes 0 and 2, then 1 and 3); then for each of 5 classes one word of weights is
//! loaded, split the same way (`sxtb16`), and two `smlad` add the 4 products. That is 28
//! instructions per 20 multiply-adds, plus the loop.
//!
//! **int4.** A word of 8 nibbles holds inputs 0-3 in its low halfword and 4-7 in its high one:
//! `and` with `0xF000F000` keeps the top nibble of each, as the two exact signed halfwords
//! `4096 * w3` and `4096 * w7`, and the same `and` of the word shifted left by 4, 8 and 12
//! gives `4096 *` (w2, w6), (w1, w5) and (w0, w4): one instruction per 2 weights, 9 per word of
//! a row with its load and 4 `smlad`. The pixel pairs must match, `(p0,p4) (p1,p5) (p2,p6)
//! (p3,p7)`: two pixel words are interleaved (`pkhbt`, `pkhtb`) and split (`uxtb16`), once per
//! image, a [`CHUNK`] of 112 pixels at a time into a buffer on the stack; then [`GROUP`]s of 5
//! rows run over the chunk, 8 pixels per step, one `ldm` loading the 4 pixel pairs that serve
//! all 5 rows. The sums, 4096 times too large, would overflow past 256 pixels
//! (`8 * 255 * 256 * 4096 < 2^31`): each chunk's sums start at 0 and are added to the dots
//! shifted right by 12, exactly, as they are multiples of 4096. 5 sums, 4 pixel pairs, the
//! weight word, its part, the mask and 2 pointers take 14 registers: r6 and r7 (which Rust
//! reserves as the base and frame pointers) are saved on the stack and used too. No register
//! is left for the loop's end, so the chunk's buffer ends with a [`SENTINEL`], negative as no
//! pixel pair is, and the loop runs while the next step's first pixel pair is not negative.
#![allow(unsafe_code)]

use core::arch::asm;

/// The input size this kernel is built for (MNIST's 28 x 28): the row offsets are immediates.
const INPUTS: usize = 784;
/// Classes per pass: 5 accumulators + 7 working registers fill the core's register file.
const GROUP: usize = 5;
const _: () = assert!(INPUTS.is_multiple_of(8) && 4 * INPUTS < 4096, "two words/loop, ldr imm12");

/// See [`super::Prepared::dots`]; `false` (nothing done) for inputs this kernel does not
/// cover. The word loads need word-aligned pixels and weights (every row then is, as `INPUTS` is
/// a multiple of 4): a core may trap unaligned loads (`CCR.UNALIGN_TRP`), and version 1 blobs
/// do not align.
pub(crate) fn int8_dots(weights: &[u8], pixels: &[u8], dots: &mut [i32]) -> bool {
    let aligned = |bytes: &[u8]| bytes.as_ptr().addr().is_multiple_of(4);
    if !aligned(weights) || !aligned(pixels) {
        return false;
    }
    let Ok(pixels) = <&[u8; INPUTS]>::try_from(pixels) else { return false };
    // Group by group from the front: no division by the group size to split the arrays.
    let (mut rows, mut dots) = (weights, dots);
    while dots.len() >= GROUP {
        let Some((group_rows, rest_rows)) = rows.split_first_chunk() else { break };
        // Taken only once it is known to hold a group, so `dots` is never left emptied.
        let Some((out, rest)) = core::mem::take(&mut dots).split_first_chunk_mut() else { break };
        *out = group(group_rows, pixels);
        (rows, dots) = (rest_rows, rest);
    }
    super::portable::int8_dots(rows, pixels, dots);
    true
}

/// One word of 4 pixels against the same 4 inputs of the 5 rows: the pixels are split into
/// 16-bit halves once (`p` = bytes 0 and 2, `p1` = bytes 1 and 3), then for each row a word of
/// weights is loaded (rows 1-4 at immediate offsets, row 0 last, advancing the pointer), split
/// the same way, and multiplied-accumulated pairwise by two `smlad`.
macro_rules! word {
    () => {
        concat!(
            "ldr {p}, [{pp}], #4\n",
            "uxtb16 {p1}, {p}, ror #8\n",
            "uxtb16 {p}, {p}\n",
            row!("[{wp}, #{s1}]", "{a1}"),
            row!("[{wp}, #{s2}]", "{a2}"),
            row!("[{wp}, #{s3}]", "{a3}"),
            row!("[{wp}, #{s4}]", "{a4}"),
            row!("[{wp}], #4", "{a0}"),
        )
    };
}

/// One word of one row: 4 multiply-accumulates into `acc`.
macro_rules! row {
    ($address:literal, $acc:literal) => {
        concat!(
            "ldr {w}, ",
            $address,
            "\n",
            "sxtb16 {t}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "smlad ",
            $acc,
            ", {t}, {p}, ",
            $acc,
            "\n",
            "smlad ",
            $acc,
            ", {w}, {p1}, ",
            $acc,
            "\n",
        )
    };
}

/// The dot products of 5 rows with the pixels.
fn group(rows: &[u8; GROUP * INPUTS], pixels: &[u8; INPUTS]) -> [i32; GROUP] {
    let [mut a0, mut a1, mut a2, mut a3, mut a4] = [0i32; GROUP];
    // SAFETY: the loop reads `pixels` word by word from its start to `end`, INPUTS bytes, and
    // `rows` at offsets k * INPUTS + [0, INPUTS) for k < GROUP, all inside the two arrays (the
    // types fix their lengths), at word-aligned addresses (checked by `int8_dots`). Only registers are
    // written; sums stay below 2^31 (MAX_INPUTS), so SMLAD's wrap-around never happens.
    unsafe {
        asm!(
            "2:",
            word!(),
            word!(), // unrolled twice: the loop test is paid once per 8 pixels
            "cmp {pp}, {end}",
            "bne 2b",
            pp = inout(reg) pixels.as_ptr() => _,
            wp = inout(reg) rows.as_ptr() => _,
            end = in(reg) pixels.as_ptr().add(INPUTS),
            p = out(reg) _,
            p1 = out(reg) _,
            w = out(reg) _,
            t = out(reg) _,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            a2 = inout(reg) a2,
            a3 = inout(reg) a3,
            a4 = inout(reg) a4,
            s1 = const INPUTS,
            s2 = const 2 * INPUTS,
            s3 = const 3 * INPUTS,
            s4 = const 4 * INPUTS,
            options(nostack, readonly),
        );
    }
    [a0, a1, a2, a3, a4]
}

/// int4: pixels widened at a time, into 224 bytes of stack: 14 steps of 8, at most 256 (the
/// sums, 4096 times too large, overflow past that).
const CHUNK: usize = 112;
/// int4: words of pixel pairs per chunk.
const WORDS: usize = CHUNK / 2;
/// int4: bytes per row.
const ROW4: usize = INPUTS / 2;
const _: () = assert!(
    INPUTS.is_multiple_of(CHUNK) && CHUNK.is_multiple_of(16) && CHUNK <= 256,
    "whole chunks of whole widening iterations (16 pixels), int4 sums within i32"
);
const _: () = assert!(4 * ROW4 < 4096, "ldr imm12");
/// int4: ends the pixel pairs of a chunk: negative, as no pair of two u8 widened to halfwords is.
const SENTINEL: u32 = 0x8000_0000;

/// [`int8_dots`] for int4 rows of [`ROW4`] bytes. Adds to `dots`, which must be zero (as
/// `Prepared` leaves them). Needs word-aligned pixels and weights (`ldm`, `ldr`).
pub(crate) fn int4_dots(weights: &[u8], pixels: &[u8], dots: &mut [i32]) -> bool {
    let aligned = |bytes: &[u8]| bytes.as_ptr().addr().is_multiple_of(4);
    let Ok(pixels) = <&[u8; INPUTS]>::try_from(pixels) else { return false };
    let (sums, rest_dots) = dots.as_chunks_mut::<GROUP>();
    let Some((rows, rest_rows)) = weights.split_at_checked(sums.len() * GROUP * ROW4) else {
        return false;
    };
    if !aligned(weights) || !aligned(pixels) {
        return false;
    }
    int4_groups(rows, pixels, sums);
    super::portable::int4_dots(rest_rows, pixels, rest_dots);
    true
}

/// One int4 row of a step: a word of weights loaded by `$load` into r4, split with the mask in
/// r12 and multiplied-accumulated with the 4 pixel pairs into `$acc`.
macro_rules! row4 {
    ($load:literal, $acc:literal) => {
        concat!(
            $load,
            "\n",
            "and r5, r12, r4, lsl #12\n",
            "smlad ",
            $acc,
            ", r5, r0, ",
            $acc,
            "\n",
            "and r5, r12, r4, lsl #8\n",
            "smlad ",
            $acc,
            ", r5, r1, ",
            $acc,
            "\n",
            "and r5, r12, r4, lsl #4\n",
            "smlad ",
            $acc,
            ", r5, r2, ",
            $acc,
            "\n",
            "and r4, r4, r12\n",
            "smlad ",
            $acc,
            ", r4, r3, ",
            $acc,
            "\n",
        )
    };
}

/// Adds the int4 dot products of each group of 5 rows to its `sums`; `rows` must hold all the
/// groups' rows (else nothing is done). One assembly block: it saves r6, r7 and its state on
/// the stack, below which it makes the buffer. Per chunk, it widens the pixels into the buffer,
/// 16 per iteration (4 words, one `ldm` into r1, r3, r5 and r9), each two words interleaved
/// into `[p0 p1 p4 p5]` (`pkhbt`) and `[p2 p3 p6 p7]` (`pkhtb`) and split into the pairs
/// (into r0-r5, r8 and r9, in the order they are stored). Then per group, with r0-r3 the pixel
/// pairs, r4 and r5 the weight word and its part, r12 the mask, r6-r10 the group's 5 sums from
/// 0, r11 the pixel pair pointer and lr the row pointer, the loop runs steps (each ending with
/// the next step's `ldm`) until the sentinel; then the sums are shifted back and added to the
/// group's dots, the pixel pair pointer goes back to the buffer's start and the row pointer on
/// to the next group.
///
/// The state: `[sp, #B]` the group's sums, `+4` their end, `+8` the pixels of the next chunk,
/// `+12` their end, `+16` the first group's rows at the chunk, `+20` the first group's sums
/// (`B` = the buffer's bytes).
fn int4_groups(rows: &[u8], pixels: &[u8; INPUTS], sums: &mut [[i32; GROUP]]) {
    if sums.is_empty() || rows.len() < GROUP * ROW4 * sums.len() {
        return;
    }
    let sums = sums.as_mut_ptr_range();
    let pixels = pixels.as_ptr_range();
    // SAFETY: the assembly reads the pixels, all (its type fixes their length), once. On the
    // stack it pushes 8 words and reserves the buffer below them, WORDS words, the sentinel and
    // 3 more, which it restores before it ends; it writes the buffer's words and sentinel, and
    // reads the buffer per group from its start, 4 words per step, up to and with the sentinel
    // and the 3 words after it. Each step reads one word of each of the group's 5 rows, at
    // offsets inside `rows` (checked above to hold every group); each group's sums, 5 aligned
    // words, are read and written. All word aligned (the pixels and weights are checked
    // aligned, and every offset is a multiple of 4). r6 and r7 are pushed first and popped
    // last; every other register written is declared.
    unsafe {
        asm!(
            "push {{r0, r1, r2, r3, r4, r5, r6, r7}}",
            "sub sp, sp, #{buffer}",
            "mov r4, #{sentinel}",
            "str r4, [sp, #4 * {words}]",
            "4:",
            "ldr lr, [sp, #{buffer} + 8]",
            "mov r11, sp",
            "add r10, sp, #4 * {words}",
            "5:",
            "ldm lr!, {{r1, r3, r5, r9}}",
            "pkhbt r0, r1, r3, lsl #16",
            "pkhtb r3, r3, r1, asr #16",
            "uxtb16 r1, r0, ror #8",
            "uxtb16 r0, r0",
            "uxtb16 r2, r3",
            "uxtb16 r3, r3, ror #8",
            "pkhbt r4, r5, r9, lsl #16",
            "pkhtb r9, r9, r5, asr #16",
            "uxtb16 r5, r4, ror #8",
            "uxtb16 r4, r4",
            "uxtb16 r8, r9",
            "uxtb16 r9, r9, ror #8",
            "stm r11!, {{r0, r1, r2, r3, r4, r5, r8, r9}}",
            "cmp r11, r10",
            "bne 5b",
            "str lr, [sp, #{buffer} + 8]",
            "ldr lr, [sp, #{buffer} + 16]",
            "mov r11, sp",
            "3:",
            "movs r6, #0",
            "movs r7, #0",
            "mov r8, #0",
            "mov r9, #0",
            "mov r10, #0",
            "ldm r11!, {{r0, r1, r2, r3}}",
            "2:",
            row4!("ldr r4, [lr, #{row4}]", "r7"),
            row4!("ldr r4, [lr, #2 * {row4}]", "r8"),
            row4!("ldr r4, [lr, #3 * {row4}]", "r9"),
            row4!("ldr r4, [lr, #4 * {row4}]", "r10"),
            row4!("ldr r4, [lr], #4", "r6"),
            "ldm r11!, {{r0, r1, r2, r3}}",
            "cmp r0, #0",
            "bpl 2b",
            "ldr r0, [sp, #{buffer}]",
            "ldm r0, {{r1, r2, r3, r4, r5}}",
            "add r1, r1, r6, asr #12",
            "add r2, r2, r7, asr #12",
            "add r3, r3, r8, asr #12",
            "add r4, r4, r9, asr #12",
            "add r5, r5, r10, asr #12",
            "stm r0, {{r1, r2, r3, r4, r5}}",
            "adds r0, #4 * {group}",
            "str r0, [sp, #{buffer}]",
            "ldr r1, [sp, #{buffer} + 4]",
            "sub r11, r11, #{buffer}",
            "add lr, lr, #{next}",
            "cmp r0, r1",
            "bne 3b",
            "ldrd r0, r1, [sp, #{buffer} + 16]",
            "adds r0, #{chunk_row}",
            "str r0, [sp, #{buffer} + 16]",
            "str r1, [sp, #{buffer}]",
            "ldrd r0, r1, [sp, #{buffer} + 8]",
            "cmp r0, r1",
            "bne 4b",
            "add sp, sp, #{buffer}",
            "pop {{r0, r1, r2, r3, r4, r5, r6, r7}}",
            inout("r0") sums.start => _,
            inout("r1") sums.end => _,
            inout("r2") pixels.start => _,
            inout("r3") pixels.end => _,
            inout("r4") rows.as_ptr() => _,
            inout("r5") sums.start => _,
            inout("r12") 0xF000_F000u32 => _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _, out("lr") _,
            buffer = const 4 * (WORDS + 4),
            words = const WORDS,
            sentinel = const SENTINEL,
            group = const GROUP,
            next = const GROUP * ROW4 - CHUNK / 2,
            chunk_row = const CHUNK / 2,
            row4 = const ROW4,
        );
    }
}
