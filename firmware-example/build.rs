//! Puts `memory.x` on the linker path, and cuts the first test images and labels out of the
//! bundled MNIST test set for the firmware to embed.

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
    fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");

    let mnist = Path::new("../data/mnist");
    let images = idx(&mnist.join("t10k-images-idx3-ubyte.gz"), 0x803, &[28, 28], IMAGES);
    let labels = idx(&mnist.join("t10k-labels-idx1-ubyte.gz"), 0x801, &[], IMAGES);
    assert_eq!(images.len(), IMAGES * PIXELS);
    fs::write(out.join("test_images.bin"), images).expect("write images");
    fs::write(out.join("test_labels.bin"), labels).expect("write labels");
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
