//! Replays the blob, link and signed fuzz targets' seeds and regressions (`fuzz/seeds/<target>`,
//! `fuzz/regressions/<target>`) through the fuzz targets' own checks, `fuzz/checks/*.rs`.

#[path = "../../fuzz/checks/blob.rs"]
mod blob;
#[path = "../../fuzz/checks/link.rs"]
mod link;
#[path = "../../fuzz/checks/replay.rs"]
mod replay;
#[path = "../../fuzz/checks/signed.rs"]
mod signed;
// The link check's flash; shared with the store tests, which use all of it.
#[allow(dead_code)]
mod sim_flash;

use std::fs;
use std::path::Path;

use replay::replay;

#[test]
fn blob_seeds_and_regressions_pass_the_fuzz_checks() {
    assert!(replay("blob", blob::check) >= 5, "the seeds are missing");
}

#[test]
fn signed_seeds_and_regressions_pass_the_fuzz_checks() {
    assert!(replay("signed", signed::check) >= 4, "the seeds are missing");
}

#[test]
fn link_seeds_and_regressions_pass_the_fuzz_checks() {
    assert!(replay("link", link::check) >= 3, "the seeds are missing");
}

#[test]
fn the_signed_seeds_verify_so_the_fuzzer_starts_from_valid_envelopes() {
    let key = ed25519_dalek::SigningKey::from_bytes(&signed::KEY_SEED).verifying_key().to_bytes();
    let seed = fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/signed/model.int8.signed"),
    )
    .unwrap();
    let verified = infer_core::signed::open(&seed, &key, 7).unwrap();
    assert!(infer_core::Model::from_blob(verified.blob).is_ok());
}
