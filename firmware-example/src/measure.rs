//! Instruction counts and stack high-water marks of a piece of code.

use core::hint::black_box;
use core::ptr;

use crate::board::{self, Ticker};

/// Instructions per counter tick, times 100, under QEMU with `-icount shift=0`: the virtual
/// clock advances 1 ns per instruction, and the counter ticks at the board's `COUNTER_HZ`.
const EXPECTED_PER_TICK_X100: u64 = 100 * 1_000_000_000 / board::COUNTER_HZ;

/// Counts instructions with the board's counter; [`InstructionCounter::calibrate`] checks the
/// ratio of instructions to ticks rather than trusting it.
pub struct InstructionCounter {
    ticker: Ticker,
    /// Instructions per tick, times 100.
    per_tick_x100: u64,
}

impl InstructionCounter {
    /// Calibrates `ticker` on a loop of a known number of instructions ([`board::spin`]).
    ///
    /// # Panics
    /// If the ratio is more than 1% off [`EXPECTED_PER_TICK_X100`]: every count would be wrong.
    pub fn calibrate(mut ticker: Ticker) -> Self {
        const LOOPS: u32 = 1_000_000;
        let ticks = ticker.ticks(&mut || board::spin(LOOPS));
        let ticks = u64::from(ticks.max(1));
        let per_tick_x100 = (u64::from(2 * LOOPS) * 100 + ticks / 2) / ticks; // rounded
        assert!(
            per_tick_x100.abs_diff(EXPECTED_PER_TICK_X100) * 100 <= EXPECTED_PER_TICK_X100,
            "{} calibration: {per_tick_x100} instructions per 100 ticks, expected \
             {EXPECTED_PER_TICK_X100} (QEMU with `-icount shift=0`, the counter at {} Hz)",
            board::COUNTER,
            board::COUNTER_HZ
        );
        Self { ticker, per_tick_x100 }
    }

    /// Instructions per tick, times 100.
    pub fn per_tick_x100(&self) -> u64 {
        self.per_tick_x100
    }

    /// Runs `f` and returns its instruction count and ticks.
    pub fn count(&mut self, f: &mut dyn FnMut()) -> (u64, u32) {
        let ticks = self.ticker.ticks(black_box(f));
        (u64::from(ticks) * self.per_tick_x100 / 100, ticks)
    }
}

/// Bytes of stack `f` uses: the free RAM between the end of static data (`__sheap`, which both
/// cortex-m-rt and riscv-rt define) and the stack pointer is painted with a pattern, `f` runs,
/// and the lowest word no longer holding the pattern marks its deepest frame.
#[inline(never)]
pub fn stack_high_water(f: &mut dyn FnMut()) -> usize {
    const PAINT: u32 = 0xA5A5_A5A5;
    unsafe extern "C" {
        static __sheap: u32;
    }
    let f = black_box(f);
    let bottom = (&raw const __sheap).cast_mut();
    let words = (board::stack_pointer() - bottom.addr()) / 4;
    // SAFETY: [bottom, sp) is free RAM below the current frame (no heap; the linker scripts
    // align `__sheap` to 4), and no interrupt is enabled that could push a frame there meanwhile.
    unsafe {
        for i in 0..words {
            ptr::write_volatile(bottom.add(i), PAINT);
        }
        f();
        let untouched =
            (0..words).take_while(|&i| ptr::read_volatile(bottom.add(i)) == PAINT).count();
        (words - untouched) * 4
    }
}
