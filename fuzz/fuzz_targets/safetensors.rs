//! Fuzz target `safetensors`: runs `checks/safetensors.rs`, which `cargo test` also replays.
#![no_main]

#[path = "../checks/safetensors.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
