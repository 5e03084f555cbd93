//! `exp(x)` for `x <= 0`, bit for bit what `libm::expf` returns there, in much less code.
//!
//! Softmax only ever exponentiates a logit minus the largest one, never a positive number, so
//! libm's branches for NaN and overflow, and the general scaling by a power of two, are dead
//! weight in a firmware. This is the same algorithm with only the non-positive half: the same
//! constants and the same operations in the same order, so the same rounding. A test compares
//! it with `libm::expf` over a wide sample of inputs (and it was checked on every one).
//!
//! Derived from FreeBSD's `e_expf.c` through the `libm` crate:
//!
//! Conversion to float by Ian Lance Taylor, Cygnus Support, ian@cygnus.com.
//!
//! Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//!
//! Developed at SunPro, a Sun Microsystems, Inc. business.
//! Permission to use, copy, modify, and distribute this
//! software is freely granted, provided that this notice
//! is preserved.

/// ln(2), split: `LN2_HI` has trailing zero bits, so `k * LN2_HI` is exact.
const LN2_HI: f32 = f32::from_bits(0x3f31_7200);
const LN2_LO: f32 = f32::from_bits(0x35bf_be8e);
const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b);
/// The polynomial that approximates `x * (exp(x) + 1) / (exp(x) - 1)` on the reduced range.
const P1: f32 = f32::from_bits(0x3e2a_aa8f);
const P2: f32 = f32::from_bits(0xbb35_5215);

/// `|x|` at and above which `exp(x)` rounds to zero.
const UNDERFLOW: u32 = 0x42cf_f1b5;
/// `|x|` above which the argument is reduced by multiples of ln(2).
const HALF_LN2: u32 = 0x3eb1_7218;
/// `|x|` above which the multiple is rounded from `x / ln(2)` rather than being one.
const THREE_HALVES_LN2: u32 = 0x3f85_1592;
/// `|x|` at or below which `exp(x)` is `1 + x`.
const TINY: u32 = 0x3900_0000;

/// `e^x` for `x <= 0` (`-0`, `+0` and `-inf` included), equal to `libm::expf(x)` bit for
/// bit. Any other input gives a meaningless result; softmax passes none.
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    let magnitude = x.to_bits() & 0x7fff_ffff;
    if magnitude >= UNDERFLOW {
        return 0.0;
    }
    // x = k * ln2 + r, with |r| <= ln2 / 2 and hi - lo = r in extra precision.
    let (k, hi, lo) = if magnitude > HALF_LN2 {
        let k = if magnitude > THREE_HALVES_LN2 { (INV_LN2 * x - 0.5) as i32 } else { -1 };
        let kf = k as f32;
        (k, x - kf * LN2_HI, kf * LN2_LO)
    } else if magnitude > TINY {
        (0, x, 0.0)
    } else {
        return 1.0 + x;
    };
    let r = hi - lo;
    let rr = r * r;
    let c = r - rr * (P1 + rr * P2);
    let y = 1.0 + (r * c / (2.0 - c) - lo + hi);
    times_power_of_two(y, k)
}

/// `y * 2^k` for `y` near one and `k` between the underflow bound and zero, rounded once, as
/// libm's `scalbnf` does it: below the normal range `y` is first scaled by an exact power of two
/// that keeps it normal.
fn times_power_of_two(mut y: f32, mut k: i32) -> f32 {
    /// The exponent bias of f32.
    const BIAS: i32 = 127;
    /// The smallest exponent of a normal f32.
    const MIN_EXP: i32 = 1 - BIAS;
    /// The exponent of the exact prescale.
    const PRESCALE_EXP: i32 = MIN_EXP + f32::MANTISSA_DIGITS as i32;
    let power_of_two =
        |exp: i32| f32::from_bits(((BIAS + exp) as u32) << (f32::MANTISSA_DIGITS - 1));
    if k < MIN_EXP {
        y *= power_of_two(PRESCALE_EXP);
        k -= PRESCALE_EXP;
    }
    y * power_of_two(k)
}

#[cfg(test)]
mod tests {
    use super::exp_nonpositive;

    /// Every non-positive input in a stride through all bit patterns, plus the edges.
    #[test]
    fn equals_libm_expf() {
        let check = |x: f32| {
            let (ours, libm) = (exp_nonpositive(x), libm::expf(x));
            assert_eq!(ours.to_bits(), libm.to_bits(), "exp({x:e}) = {ours:e}, libm {libm:e}");
        };
        for x in [0.0, -0.0, f32::NEG_INFINITY, f32::MIN, -f32::MIN_POSITIVE, -1e-45] {
            check(x);
        }
        let negative_finite = 0x8000_0000u32..0xff80_0000;
        for bits in negative_finite.step_by(251) {
            check(f32::from_bits(bits));
        }
        // Densely around the branch points, where an off-by-one would show.
        for edge in [super::UNDERFLOW, super::HALF_LN2, super::THREE_HALVES_LN2, super::TINY] {
            for bits in edge - 4096..edge + 4096 {
                check(-f32::from_bits(bits));
            }
        }
    }
}
