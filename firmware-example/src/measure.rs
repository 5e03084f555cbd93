//! Instruction counts and stack high-water marks of a piece of code.

use core::hint::black_box;
use core::ptr;

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;

/// SysTick's current value register counts down 24 bits.
const SYSTICK_MAX: u32 = 0x00FF_FFFF;

/// Instructions per SysTick tick, times 100, under QEMU with `-icount shift=0`: the virtual
/// clock advances 1 ns per instruction and SysTick ticks at the 25 MHz system clock.
const EXPECTED_PER_TICK_X100: u64 = 4000;

/// Counts instructions with SysTick; [`InstructionCounter::calibrate`] checks the ratio of
/// instructions to ticks rather than trusting it.
pub struct InstructionCounter {
    syst: SYST,
    /// Instructions per tick, times 100.
    per_tick_x100: u64,
}

impl InstructionCounter {
    /// Starts SysTick on the core clock, without interrupts, and calibrates it on a loop of a
    /// known number of instructions (`cortex_m::asm::delay(n)` runs `subs` + `bne` n + 1 times).
    ///
    /// # Panics
    /// If the ratio is more than 1% off [`EXPECTED_PER_TICK_X100`]: every count would be wrong.
    pub fn calibrate(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(SYSTICK_MAX);
        syst.clear_current();
        syst.enable_counter();
        const LOOPS: u32 = 1_000_000;
        let ticks = ticks(&mut syst, &mut || cortex_m::asm::delay(LOOPS - 1));
        let per_tick_x100 = u64::from(2 * LOOPS) * 100 / u64::from(ticks.max(1));
        assert!(
            per_tick_x100.abs_diff(EXPECTED_PER_TICK_X100) * 100 <= EXPECTED_PER_TICK_X100,
            "SysTick calibration: {per_tick_x100} instructions per 100 ticks, expected \
             {EXPECTED_PER_TICK_X100} (QEMU with `-icount shift=0`, and cortex-m's `asm::delay(n)` \
             looping n + 1 times, as from 0.7.8 on)"
        );
        Self { syst, per_tick_x100 }
    }

    /// Instructions per SysTick tick, times 100 (4000 under `-icount shift=0`).
    pub fn per_tick_x100(&self) -> u64 {
        self.per_tick_x100
    }

    /// Runs `f` and returns its instruction count and SysTick ticks.
    pub fn count(&mut self, f: &mut dyn FnMut()) -> (u64, u32) {
        let ticks = ticks(&mut self.syst, f);
        (u64::from(ticks) * self.per_tick_x100 / 100, ticks)
    }
}

fn ticks(syst: &mut SYST, f: &mut dyn FnMut()) -> u32 {
    let f = black_box(f);
    syst.clear_current();
    let start = SYST::get_current();
    f();
    let end = SYST::get_current();
    start.wrapping_sub(end) & SYSTICK_MAX
}

/// Bytes of stack `f` uses: the stack below the caller is painted with a pattern, `f` runs, and
/// the lowest word no longer holding the pattern marks its deepest frame.
#[inline(never)]
pub fn stack_high_water(f: &mut dyn FnMut()) -> usize {
    const WINDOW: usize = 16 * 1024;
    const PAINT: u32 = 0xA5A5_A5A5;
    let f = black_box(f);
    let sp = cortex_m::register::msp::read() as usize;
    let bottom = (sp - WINDOW) & !3;
    let words = (sp - bottom) / 4;
    // SAFETY: [bottom, sp) is unused stack below the current frame (RAM is 4 MiB, the window
    // 16 KiB) and no interrupt is enabled that could push a frame there meanwhile.
    unsafe {
        let base = bottom as *mut u32;
        for i in 0..words {
            ptr::write_volatile(base.add(i), PAINT);
        }
        f();
        let untouched =
            (0..words).take_while(|&i| ptr::read_volatile(base.add(i)) == PAINT).count();
        (words - untouched) * 4
    }
}
