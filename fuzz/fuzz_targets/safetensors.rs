//! Fuzz target `safetensors`: the checks of `checks/safetensors.rs` (also replayed by `cargo test`).
#![no_main]

#[path = "../checks/safetensors.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
