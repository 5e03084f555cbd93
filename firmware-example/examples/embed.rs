//! The smallest firmware that classifies with infer-core (shown in the README).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use infer_core::Model;
use panic_semihosting as _;

/// Weights exported by `trainer train`, 16-byte aligned in flash as their arrays are in the blob.
#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);
static BLOB: &Aligned<[u8]> = &Aligned(*include_bytes!("../../tests/fixtures/model.int8.postcard"));

#[entry]
fn main() -> ! {
    // 28x28 pixels, row-major, 0 = background, 255 = ink: from your camera or touch screen.
    let mut image = [0u8; 784];
    for row in 4..24 {
        image[row * 28 + 13..row * 28 + 16].fill(255); // a vertical stroke: a 1
    }
    match Model::from_blob(&BLOB.0).and_then(|model| model.predict(&image)) {
        Ok(p) => hprintln!("digit {} (p = {})", p.class, p.probabilities[p.class]),
        Err(error) => hprintln!("weights rejected: {}", error),
    }
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}
