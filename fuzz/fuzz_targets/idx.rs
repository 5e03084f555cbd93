//! Fuzz target `idx`: the checks of `checks/idx.rs` (also replayed by `cargo test`).
#![no_main]

#[path = "../checks/idx.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
