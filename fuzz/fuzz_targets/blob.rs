//! Fuzz target `blob`: the checks of `checks/blob.rs` (also replayed by `cargo test`).
#![no_main]

#[path = "../checks/blob.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
