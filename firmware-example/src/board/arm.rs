//! Cortex-M: cortex-m-rt's entry and fault handler, semihosting, SysTick.

use core::fmt::Write;

#[cfg(not(armv6m))]
use cortex_m::peripheral::SCB;
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{ExceptionFrame, entry, exception};
pub use cortex_m_semihosting::hprintln;
use cortex_m_semihosting::{debug, hio};
use panic_semihosting as _;

/// The instruction counter's name in the report.
pub const COUNTER: &str = "SysTick";

/// What [`trap_unaligned`] makes of unaligned accesses, for the report.
#[cfg(not(armv6m))]
pub const UNALIGNED: &str = "trap in decoding and inference (CCR.UNALIGN_TRP)";
#[cfg(armv6m)]
pub const UNALIGNED: &str = "always trap (v6-M)";

#[entry]
fn start() -> ! {
    let peripherals = cortex_m::Peripherals::take().expect("peripherals are taken once");
    exit(crate::program(Ticker::start(peripherals.SYST)))
}

/// Ends the QEMU run: exit status 0 if `passed`, else 1.
pub fn exit(passed: bool) -> ! {
    debug::exit(if passed { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    loop {
        cortex_m::asm::wfi();
    }
}

/// SysTick, counting down its 24 bits at the core clock, without interrupts.
pub struct Ticker(SYST);

impl Ticker {
    const MAX: u32 = 0x00FF_FFFF;

    fn start(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(Self::MAX);
        syst.clear_current();
        syst.enable_counter();
        Self(syst)
    }

    /// Ticks while `f` runs, which must take fewer than 2^24.
    pub fn ticks(&mut self, f: &mut dyn FnMut()) -> u32 {
        self.0.clear_current();
        let start = SYST::get_current();
        f();
        let end = SYST::get_current();
        start.wrapping_sub(end) & Self::MAX
    }
}

/// Runs a loop of two instructions (`subs`, `bne`) `loops` times (at least once).
pub fn spin(loops: u32) {
    cortex_m::asm::delay(loops.max(1) - 1);
}

/// Sets or clears `CCR.UNALIGN_TRP`: while set, every unaligned load or store faults, as it
/// always does on v6-M, where the bit is fixed.
pub fn trap_unaligned(on: bool) {
    #[cfg(not(armv6m))]
    {
        const UNALIGN_TRP: u32 = 1 << 3;
        // SAFETY: only this function writes CCR; the bit changes no memory the program uses.
        unsafe {
            (*SCB::PTR).ccr.modify(|ccr| if on { ccr | UNALIGN_TRP } else { ccr & !UNALIGN_TRP })
        };
        cortex_m::asm::dsb();
        cortex_m::asm::isb();
    }
    #[cfg(armv6m)]
    let _ = on;
}

/// The main stack pointer.
pub fn stack_pointer() -> usize {
    cortex_m::register::msp::read() as usize
}

/// A fault (an unaligned access under `aligned_only`) ends the run with a failure, not a hang.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    trap_unaligned(false); // for the formatting below
    // A stream of its own: the fault may have hit inside `hprintln!`, which holds the shared one.
    if let Ok(mut out) = hio::hstdout() {
        let _ = report_fault(&mut out, frame.pc());
    }
    exit(false)
}

#[cfg(not(armv6m))]
fn report_fault(out: &mut impl Write, pc: u32) -> core::fmt::Result {
    const UNALIGNED: u32 = 1 << 24;
    // SAFETY: a read of the fault status register.
    let cfsr = unsafe { (*SCB::PTR).cfsr.read() };
    let cause = if cfsr & UNALIGNED != 0 { "unaligned access" } else { "fault" };
    writeln!(out, "error: {cause} at pc {pc:#010x} (CFSR {cfsr:#010x})")
}

/// v6-M has no fault status register: the fault is an unaligned access or any other.
#[cfg(armv6m)]
fn report_fault(out: &mut impl Write, pc: u32) -> core::fmt::Result {
    writeln!(out, "error: fault at pc {pc:#010x} (v6-M: an unaligned access, or another fault)")
}
