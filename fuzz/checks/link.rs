//! What must hold for any bytes a device receives on its update link: nothing panics, every
//! reply is a well-formed frame that answers a request, and after a power cycle the device
//! boots a valid model: the one it had, or the last one a reply said it committed.
//!
//! Shared, by `#[path]`, by the fuzz target `fuzz/fuzz_targets/link.rs` and by the replay test
//! `infer-core/tests/fuzz_replay.rs`; both declare the simulated flash,
//! `infer-core/tests/sim_flash`, at their root. The seeds in `fuzz/seeds/link` are whole
//! transfers of `fuzz/seeds/blob/small.int8.postcard`, as bytes (`transfer*`) and as records
//! that [`framed`] turns into frames (`records.*`).

use infer_core::blob::{Blob, crc32};
use infer_core::link::{Device, Frames, Response, parse_response};
use infer_core::store::{Layout, Store};

use crate::sim_flash::SimFlash;

/// The model on the device before the bytes arrive.
const OLD: &[u8] = include_bytes!("../seeds/blob/small.f32.postcard");

type Flash = SimFlash<1, 8, 1024>;
const LAYOUT: Layout = Layout { start: 0, slot_size: 2048 };

/// Feeds `data` to a device whose store holds [`OLD`], as it is and cut into well-framed
/// requests (which a random byte stream seldom makes: the CRC-32 stops it).
pub fn check(data: &[u8]) {
    run(data);
    run(&framed(data));
}

/// Reads `data` as records of a kind, a sequence number, a body length `n` and `n` body bytes;
/// returns them as frames with a correct CRC-32.
fn framed(mut data: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    while let Some((&[kind, seq_lo, seq_hi, n], rest)) = data.split_first_chunk::<4>() {
        let (body, rest) = rest.split_at(usize::from(n).min(rest.len()));
        let mut frame = [&[kind, seq_lo, seq_hi][..], body].concat();
        frame.extend(crc32(&frame).to_le_bytes());
        let mut encoded = vec![0; cobs::max_encoding_length(frame.len()) + 1];
        let len = cobs::encode(&frame, &mut encoded);
        wire.extend(&encoded[..len]);
        wire.push(0);
        data = rest;
    }
    wire
}

fn run(data: &[u8]) {
    let mut flash = with_old_model();
    let mut committed = None;
    {
        let mut store = Store::new(&mut flash, LAYOUT).unwrap();
        let mut scratch = [0; 2048];
        store.boot(&mut scratch).unwrap().expect("the old model");
        let mut device = Device::new(&mut store, &mut scratch);
        for &byte in data {
            let Some(reply) = device.receive(byte) else { continue };
            match (committed_len(reply.bytes), reply.committed) {
                (Some(len), Some(active)) => {
                    assert_eq!(active.len, len as usize);
                    committed = Some(active);
                }
                // A repeated Commit frame gets the same reply, without committing again.
                (Some(len), None) => {
                    assert_eq!(committed.map(|a| a.len), Some(len as usize), "a repeat")
                }
                (None, None) => {}
                (len, active) => panic!("reply says committed {len:?}, device {active:?}"),
            }
        }
    }
    flash.reboot();
    let mut buf = [0; 2048];
    let mut store = Store::new(&mut flash, LAYOUT).unwrap();
    let booted = store.boot(&mut buf).unwrap().expect("a model after every input");
    assert!(Blob::parse(booted.blob).is_ok());
    match committed {
        Some(active) => assert_eq!(booted.active, active),
        None => assert_eq!(booted.blob, OLD),
    }
}

/// A flash whose store holds [`OLD`] in slot A.
fn with_old_model() -> Flash {
    let mut flash = Flash::new(4);
    let mut store = Store::new(&mut flash, LAYOUT).unwrap();
    let mut buf = [0; 2048];
    store.boot(&mut buf).unwrap();
    let mut update = store.begin_update(OLD.len()).unwrap();
    update.write(0, OLD).unwrap();
    update.commit(&mut buf).unwrap();
    flash
}

/// Checks that a reply is one valid frame the host understands; the length it reports
/// committed, if it is a Committed reply.
fn committed_len(wire: &[u8]) -> Option<u32> {
    let (last, body) = wire.split_last().expect("a reply has bytes");
    assert_eq!(*last, 0, "a reply ends with a delimiter");
    let mut frames = Frames::new();
    assert!(body.iter().all(|&b| frames.push(b).is_none()), "one frame per reply");
    let frame = frames.push(*last).expect("a frame").expect("a valid frame");
    match parse_response(frame).expect("a reply the host understands") {
        (_, Response::Committed { len, .. }) => Some(len),
        _ => None,
    }
}
