//! What differs between boards. The board's configuration (`boards/`, via `build.rs`) gives its
//! name and counter clock; per architecture, one module gives the same interface: the runtime's
//! entry (which runs [`crate::program`] and exits with its verdict), `hprintln!` and exit over
//! semihosting, the fault handler, the instruction counter ([`Ticker`]), [`spin`] for
//! calibrating it, the unaligned-access trap and the stack pointer. With feature `update`, the
//! MPS2 boards' UART and host files through semihosting (see `build.rs`).

#[cfg(target_arch = "arm")]
mod arm;
#[cfg(target_arch = "arm")]
pub use arm::*;

#[cfg(target_arch = "riscv32")]
mod riscv;
#[cfg(target_arch = "riscv32")]
pub use riscv::*;

#[cfg(feature = "update")]
pub mod host_file;
#[cfg(feature = "update")]
pub mod uart;

include!(concat!(env!("OUT_DIR"), "/board.rs"));
