//! Fuzz target `blob`: runs `checks/blob.rs`, which `cargo test` also replays.
#![no_main]

#[path = "../checks/blob.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
