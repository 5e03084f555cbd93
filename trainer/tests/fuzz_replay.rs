//! Replays the `idx` and `safetensors` fuzz targets' seeds and regressions (`fuzz/seeds/*`,
//! `fuzz/regressions/*`) through the fuzz targets' own checks, `fuzz/checks/*.rs`.

#[path = "../../fuzz/checks/idx.rs"]
mod idx;
#[path = "../../fuzz/checks/replay.rs"]
mod replay;
#[path = "../../fuzz/checks/safetensors.rs"]
mod safetensors;

use std::io::{self, Read};
use std::path::Path;

use replay::replay;

use trainer::data::{DataError, IdxKind, parse_idx};

#[test]
fn idx_seeds_and_regressions_pass_the_fuzz_checks() {
    assert!(replay("idx", idx::check) >= 6, "the seeds are missing");
}

#[test]
fn safetensors_seeds_and_regressions_pass_the_fuzz_checks() {
    assert!(replay("safetensors", safetensors::check) >= 2, "the seeds are missing");
}

#[test]
fn a_header_claiming_terabytes_allocates_only_what_is_read() {
    // 2^31 images of 784 bytes (1.7 TB) promised; 1 MB present, from a reader of unknown size.
    let mut header = 0x803_u32.to_be_bytes().to_vec();
    for dim in [1 << 31, 28, 28_u32] {
        header.extend_from_slice(&dim.to_be_bytes());
    }
    let present = 1 << 20;
    let reader = header.chain(io::repeat(0).take(present));
    let path = Path::new("hostile");
    let (result, peak) = idx::peak_allocation(|| parse_idx(path, reader, IdxKind::Images));
    let error = result.unwrap_err();
    assert!(matches!(error, DataError::Length { found, .. } if found == present), "{error}");
    assert!(peak <= idx::allowed_peak(1 << 20), "{peak} bytes allocated to read 1 MiB");
}
