//! RISC-V (rv32, machine mode): riscv-rt's entry and trap handler, semihosting, `minstret`.

use core::fmt::Write;

use riscv::register::{mcause, mepc, minstret, mtval};
use riscv_rt::entry;
pub use riscv_semihosting::hprintln;
use riscv_semihosting::{debug, hio};

/// The instruction counter's name in the report.
pub const COUNTER: &str = "minstret";

/// What the hart makes of misaligned accesses, for the report: RISC-V lets each implementation
/// perform them or trap; QEMU performs them, so the other cores prove alignment.
pub const UNALIGNED: &str = "performed (QEMU's hart does not trap them)";

#[entry]
fn start() -> ! {
    exit(crate::program(Ticker))
}

/// Ends the QEMU run: exit status 0 if `passed`, else 1.
pub fn exit(passed: bool) -> ! {
    debug::exit(if passed { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    loop {
        riscv::asm::wfi();
    }
}

/// `minstret`, the retired-instruction counter (its low 32 bits).
pub struct Ticker;

impl Ticker {
    /// Instructions while `f` runs, which must retire fewer than 2^32.
    pub fn ticks(&mut self, f: &mut dyn FnMut()) -> u32 {
        let start = minstret::read();
        f();
        minstret::read().wrapping_sub(start) as u32
    }
}

/// Runs a loop of two instructions (`addi`, `bne`) `loops` times (at least once).
pub fn spin(loops: u32) {
    riscv::asm::delay(2 * (loops.max(1) - 1));
}

/// Nothing to arm: see [`UNALIGNED`].
pub fn trap_unaligned(_: bool) {}

/// The stack pointer.
pub fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads a register.
    unsafe { core::arch::asm!("mv {}, sp", out(reg) sp, options(nomem, nostack)) };
    sp
}

/// Any exception ends the run with a failure, not a hang, and says where.
#[unsafe(export_name = "ExceptionHandler")]
fn trap(_: &riscv_rt::TrapFrame) -> ! {
    let cause = mcause::read();
    if let Ok(mut out) = hio::hstdout() {
        let _ = writeln!(
            out,
            "error: {} at pc {:#010x} (mcause {:#x}, mtval {:#010x})",
            exception_name(cause.code()),
            mepc::read(),
            cause.bits(),
            mtval::read()
        );
    }
    exit(false)
}

/// The standard name of exception `code` (mcause).
fn exception_name(code: usize) -> &'static str {
    match code {
        0 => "misaligned instruction fetch",
        1 => "instruction access fault",
        2 => "illegal instruction",
        4 => "misaligned load",
        5 => "load access fault",
        6 => "misaligned store",
        7 => "store access fault",
        _ => "exception",
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if let Ok(mut out) = hio::hstdout() {
        let _ = writeln!(out, "{info}");
    }
    exit(false)
}
