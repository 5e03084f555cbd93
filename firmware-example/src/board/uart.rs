//! UART0 of the MPS2 boards, an Arm CMSDK APB UART, polled: the update link's wire. It holds
//! one received byte; QEMU delivers the next only once that one is read, so polling loses
//! nothing however long the firmware is away (flashing, running a model).

use core::ptr;

/// UART0 in the MPS2 FPGA images' memory map.
const BASE: usize = 0x4000_4000;
const DATA: usize = 0x0;
const STATE: usize = 0x4;
const CTRL: usize = 0x8;
const BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_ENABLE: u32 = 1 << 0;
const CTRL_RX_ENABLE: u32 = 1 << 1;
/// 115200 baud from the boards' 25 MHz peripheral clock (QEMU ignores the rate, but refuses
/// to transmit with a divisor below 16).
const BAUD_DIVISOR: u32 = 25_000_000 / 115_200;

/// The UART, enabled for sending and receiving.
pub struct Uart(());

impl Uart {
    /// Sets the UART up; the firmware makes one, the registers' only user.
    pub fn new() -> Self {
        write(BAUDDIV, BAUD_DIVISOR);
        write(CTRL, CTRL_TX_ENABLE | CTRL_RX_ENABLE);
        Self(())
    }

    /// The next received byte, waiting for it.
    pub fn read(&mut self) -> u8 {
        while read(STATE) & STATE_RX_FULL == 0 {}
        read(DATA) as u8
    }

    /// Sends `bytes`, waiting for room in the transmit buffer before each.
    pub fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            while read(STATE) & STATE_TX_FULL != 0 {}
            write(DATA, u32::from(byte));
        }
    }
}

fn read(register: usize) -> u32 {
    // SAFETY: a register of UART0, mapped on every MPS2 board; only the `Uart` uses it.
    unsafe { ptr::read_volatile((BASE + register) as *const u32) }
}

fn write(register: usize, value: u32) {
    // SAFETY: as in `read`.
    unsafe { ptr::write_volatile((BASE + register) as *mut u32, value) }
}
