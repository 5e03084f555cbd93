//! Fuzz target `link`: runs `checks/link.rs`, which `cargo test` also replays.
#![no_main]

#[path = "../checks/link.rs"]
mod check;
#[path = "../../infer-core/tests/sim_flash/mod.rs"]
#[allow(dead_code)]
mod sim_flash;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
