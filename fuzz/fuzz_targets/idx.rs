//! Fuzz target `idx`: runs `checks/idx.rs`, which `cargo test` also replays.
#![no_main]

#[path = "../checks/idx.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
