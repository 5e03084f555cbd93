//! Cortex-M4/M7 with the DSP extension: SMLAD, two 16-bit multiply-accumulates per instruction.
//!
//! rustc does not form SMLAD from safe Rust for an i8 x u8 dot product (it emits
//! `ldrsb` + `ldrb` + `smlabb`, 3 instructions per multiply-add), and `core::arch::arm::__smlad`
//! is unstable, so this is the one place in the crate with `unsafe`: inline assembly, checked
//! against [`super::portable`] bit for bit by the firmware test under QEMU.
//!
//! Per 4 pixels (one word), the pixels are split once into two registers of 16-bit halves
//! (`uxtb16`: bytes 0 and 2, then 1 and 3); then for each of 5 classes one word of weights is
//! loaded, split the same way (`sxtb16`), and two `smlad` add the 4 products. That is 28
//! instructions per 20 multiply-adds, plus the loop.
#![allow(unsafe_code)]

use core::arch::asm;

/// The input size this kernel is built for (MNIST's 28 x 28): the row offsets are immediates.
const INPUTS: usize = 784;
/// Classes per pass: 5 accumulators + 7 working registers fill the core's register file.
const GROUP: usize = 5;
const _: () = assert!(INPUTS.is_multiple_of(8) && 4 * INPUTS < 4096, "two words/loop, ldr imm12");

/// See [`super::Prepared::int8_dots`]; `false` (nothing done) for inputs this kernel does not
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
