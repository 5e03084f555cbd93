//! Fuzz target `signed`: runs `checks/signed.rs`, which `cargo test` also replays.
#![no_main]

#[path = "../checks/signed.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
