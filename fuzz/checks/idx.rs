//! What must hold for any bytes given to the trainer's IDX reader: a typed error or the data the
//! header promises, the same from a raw and a gzip-compressed copy, and memory that grows with
//! the bytes present, never with the header's claims (a global allocator counts it).
//!
//! Shared, by `#[path]`, by the fuzz target `fuzz/fuzz_targets/idx.rs` and by the replay test
//! `trainer/tests/fuzz_replay.rs`, so both run exactly these checks. Including this file makes
//! [`Meter`] the program's global allocator.
#![allow(unsafe_code)] // the counting global allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::path::Path;

use flate2::{Compression, read::GzDecoder, write::GzEncoder};
use sha2::{Digest, Sha256};
use trainer::bytes::hex;
use trainer::data::{DataError, Idx, IdxKind, PIXELS, parse_idx};

/// The most memory the reader may hold at once for `content` bytes of (decompressed) input:
/// the data, growing by doubling (the old and the new buffer, 3x, while it moves), plus buffers,
/// the gzip decoder's state, the header and the digest. A header's claims play no part.
pub fn allowed_peak(content: usize) -> usize {
    3 * content + 256 * 1024
}

/// Checks `data` as images and as labels, as it is and gzip-compressed.
pub fn check(data: &[u8]) {
    // Already gzip: compressing it again would hide the IDX header inside two layers.
    let compressed = (!data.starts_with(&[0x1f, 0x8b])).then(|| gzip(data));
    for kind in [IdxKind::Images, IdxKind::Labels] {
        let parsed = parse(data, kind);
        if let Some(compressed) = &compressed {
            let unpacked = parse(compressed, kind);
            // Debug strings: io::Error (inside DataError) has no PartialEq.
            assert_eq!(format!("{unpacked:?}"), format!("{parsed:?}"), "raw and gzip differ");
        }
    }
}

/// Parses one input and checks the result against the bytes.
fn parse(data: &[u8], kind: IdxKind) -> Result<Idx, DataError> {
    let path = Path::new("fuzz-idx");
    let (result, peak) = peak_allocation(|| parse_idx(path, data, kind));
    let content = decompressed(data);
    assert!(
        peak <= allowed_peak(content.len()),
        "{peak} bytes allocated for {} bytes of content",
        content.len()
    );
    match &result {
        Ok(idx) => {
            let (header_len, item) = match kind {
                IdxKind::Images => (16, PIXELS),
                IdxKind::Labels => (8, 1),
            };
            assert_eq!(idx.data, content[header_len..]);
            assert_eq!(idx.count, u32::from_be_bytes(content[4..8].try_into().unwrap()) as usize);
            assert_eq!(idx.data.len(), idx.count * item);
            assert_eq!(idx.digest.sha256, hex(&Sha256::digest(&content)));
            assert_eq!(idx.digest.name, "fuzz-idx");
        }
        Err(error) => {
            assert!(error.to_string().starts_with("fuzz-idx: "), "{error}");
            let in_memory = matches!(
                error,
                DataError::BadMagic { .. }
                    | DataError::BadDimensions { .. }
                    | DataError::Length { .. }
            );
            // Reading memory never fails; decompressing may.
            let gzip = data.starts_with(&[0x1f, 0x8b]);
            assert!(in_memory || gzip && matches!(error, DataError::Io { .. }), "{error:?}");
        }
    }
    result
}

/// The bytes the reader sees: `data`, or what gzip decompresses from it before any error
/// (trailing bytes after the gzip member are ignored, as by the reader).
fn decompressed(data: &[u8]) -> Vec<u8> {
    if !data.starts_with(&[0x1f, 0x8b]) {
        return data.to_vec();
    }
    let mut out = Vec::new();
    let mut decoder = GzDecoder::new(data);
    let mut chunk = [0; 4096];
    while let Ok(n @ 1..) = decoder.read(&mut chunk) {
        out.extend_from_slice(&chunk[..n]);
    }
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).and_then(|()| encoder.finish()).expect("compressing to memory")
}

/// Runs `f` and returns its result and the most memory it held at once on this thread, in
/// bytes, beyond what was allocated before.
pub fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let result = f();
    // Allocations prove the meter is the global allocator, or a peak of 0 would prove nothing.
    assert!(PEAK.with(Cell::get) > start || LIVE.with(Cell::get) != start, "Meter not installed");
    (result, PEAK.with(Cell::get) - start)
}

thread_local! {
    /// Bytes allocated and not yet freed by this thread (wrapping: frees of other threads'
    /// memory subtract too).
    static LIVE: Cell<usize> = const { Cell::new(0) };
    /// The highest `LIVE` since [`peak_allocation`] began.
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting bytes per thread for [`peak_allocation`].
pub struct Meter;

#[global_allocator]
static METER: Meter = Meter;

impl Meter {
    fn add(bytes: usize) {
        let _ = LIVE.try_with(|live| {
            live.set(live.get().wrapping_add(bytes));
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
        });
    }

    fn sub(bytes: usize) {
        let _ = LIVE.try_with(|live| live.set(live.get().wrapping_sub(bytes)));
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the counting touches only
// const-initialized thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::add(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::add(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        Self::sub(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::add(new_size);
        Self::sub(layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
