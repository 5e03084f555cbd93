//! Configures the build for its board, picks the compiled-in blob, and cuts the first test
//! images and labels out of the bundled MNIST test set for the firmware to embed. With feature `signed`, also compiles in
//! the public key of `FIRMWARE_PUBLIC_KEY` (an SPKI PEM file, as `trainer keygen` writes) and
//! the minimum security counter `FIRMWARE_SECURITY_COUNTER` (default 0).

use std::env;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

/// Test images embedded in the firmware: the first `IMAGES` of `t10k`.
const IMAGES: usize = 128;
const PIXELS: usize = 28 * 28;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    board(&out);
    compiled_in();

    let mnist = Path::new("../data/mnist");
    let images = idx(&mnist.join("t10k-images-idx3-ubyte.gz"), 0x803, &[28, 28], IMAGES);
    let labels = idx(&mnist.join("t10k-labels-idx1-ubyte.gz"), 0x801, &[], IMAGES);
    assert_eq!(images.len(), IMAGES * PIXELS);
    fs::write(out.join("test_images.bin"), images).expect("write images");
    fs::write(out.join("test_labels.bin"), labels).expect("write labels");

    #[cfg(feature = "signed")]
    trust(&out);
}

/// The board, from the `[env]` of `.cargo/config.toml` (the Cortex-M4F) or of the
/// `boards/<core>.toml` passed with `--config`: puts its memory layout on the linker path as
/// `memory.x`, writes its constants into `board.rs` for `src/board/mod.rs`, refuses kernel
/// features its core lacks, and sets `cfg(armv6m)` on v6-M, which has neither
/// `CCR.UNALIGN_TRP` nor a fault status register.
fn board(out: &Path) {
    let var = |name: &str| {
        println!("cargo:rerun-if-env-changed={name}");
        env::var(name).unwrap_or_else(|_| panic!("{name} unset: the board configs set it"))
    };
    let name = var("FIRMWARE_BOARD");
    let memory = var("FIRMWARE_MEMORY");
    fs::copy(&memory, out.join("memory.x")).unwrap_or_else(|e| panic!("{memory}: {e}"));
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={memory}");
    if env::var_os("CARGO_FEATURE_UPDATE").is_some() {
        assert!(
            memory.ends_with("mps2.x"),
            "feature `update` drives UART0 of QEMU's MPS2 boards (FIRMWARE_MEMORY boards/mps2.x: \
             the Cortex-M3, M4F and M7), which {name} is not"
        );
    }
    let hz = var("FIRMWARE_COUNTER_HZ");
    let hz: u64 = hz.parse().unwrap_or_else(|e| panic!("FIRMWARE_COUNTER_HZ={hz}: {e}"));
    let kernels = var("FIRMWARE_KERNELS");
    for (key, _) in env::vars().filter(|(key, _)| key.starts_with("CARGO_FEATURE_ARM_")) {
        let feature = key["CARGO_FEATURE_".len()..].to_lowercase().replace('_', "-");
        assert!(
            kernels.split(',').any(|k| k.trim() == feature),
            "{name} has no `{feature}` kernel: build with --no-default-features --features \"{kernels}\""
        );
    }
    let board = format!("pub const NAME: &str = {name:?};\npub const COUNTER_HZ: u64 = {hz};\n");
    fs::write(out.join("board.rs"), board).expect("write board.rs");
    println!("cargo::rustc-check-cfg=cfg(armv6m)");
    if env::var("TARGET").is_ok_and(|t| t.starts_with("thumbv6m")) {
        println!("cargo::rustc-cfg=armv6m");
    }
}

/// The reference model's blob in the first scheme of int8, int4 and f32 the build runs, for
/// `weights.rs` (as `FIRMWARE_COMPILED_IN`, its absolute path).
fn compiled_in() {
    let feature = |name: &str| env::var_os(format!("CARGO_FEATURE_{name}")).is_some();
    let scheme = ["int8", "int4", "f32"].into_iter().find(|s| feature(&s.to_uppercase()));
    let name = format!("model.{}.postcard", scheme.unwrap_or("int8"));
    let path = Path::new("../tests/fixtures").join(name).canonicalize().expect("the fixture");
    println!("cargo:rerun-if-changed={}", path.display());
    println!("cargo:rustc-env=FIRMWARE_COMPILED_IN={}", path.display());
}

/// Writes `public_key.bin` (32 bytes) and `security_counter.bin` (u32 LE) for `weights.rs`.
#[cfg(feature = "signed")]
fn trust(out: &Path) {
    use ed25519_dalek::VerifyingKey;
    use ed25519_dalek::pkcs8::DecodePublicKey;

    println!("cargo:rerun-if-env-changed=FIRMWARE_PUBLIC_KEY");
    println!("cargo:rerun-if-env-changed=FIRMWARE_SECURITY_COUNTER");
    let path = env::var("FIRMWARE_PUBLIC_KEY").unwrap_or_else(|_| {
        panic!("feature `signed` needs FIRMWARE_PUBLIC_KEY=<public key PEM> (trainer keygen)")
    });
    println!("cargo:rerun-if-changed={path}");
    let pem = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let key = VerifyingKey::from_public_key_pem(&pem)
        .unwrap_or_else(|e| panic!("{path}: not an Ed25519 public key in PEM: {e}"));
    let counter: u32 = env::var("FIRMWARE_SECURITY_COUNTER")
        .map_or(0, |c| c.parse().unwrap_or_else(|e| panic!("FIRMWARE_SECURITY_COUNTER={c}: {e}")));
    fs::write(out.join("public_key.bin"), key.as_bytes()).expect("write public key");
    fs::write(out.join("security_counter.bin"), counter.to_le_bytes()).expect("write counter");
}

/// The first `items` items of a gzipped IDX file, after checking its magic and item shape.
fn idx(path: &Path, magic: u32, item_dims: &[u32], items: usize) -> Vec<u8> {
    println!("cargo:rerun-if-changed={}", path.display());
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = GzDecoder::new(file);
    let mut word = || {
        let mut b = [0u8; 4];
        reader.read_exact(&mut b).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        u32::from_be_bytes(b)
    };
    assert_eq!(word(), magic, "{}: not an IDX file of the expected kind", path.display());
    let count = word() as usize;
    let dims: Vec<u32> = item_dims.iter().map(|_| word()).collect();
    assert_eq!(dims, item_dims, "{}: unexpected dimensions", path.display());
    assert!(count >= items, "{}: holds {count} items, {items} are embedded", path.display());
    let mut data = vec![0; items * item_dims.iter().product::<u32>() as usize];
    reader.read_exact(&mut data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    data
}
