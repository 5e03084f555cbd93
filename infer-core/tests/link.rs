//! The update link: frames round-trip, a device updates its store through it, every refusal
//! leaves the active model running, and the power may fail after any byte of a transfer.

// Shared with the store tests, which use all of it.
#[allow(dead_code)]
mod sim_flash;

use std::io::Write;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use infer_core::blob::crc32;
use infer_core::link::{
    self, Device, Frames, MAX_CHUNK, MAX_WIRE, Reason, Request, Response, UNKNOWN_SEQUENCE,
    encode_request, encode_response, parse_request, parse_response,
};
use infer_core::signed;
use infer_core::store::{Active, Layout, Slot, Store};
use proptest::prelude::*;
use sim_flash::{Cut, SimFlash};

const INT8: &[u8] = include_bytes!("../../tests/fixtures/model.int8.postcard");
const INT4: &[u8] = include_bytes!("../../tests/fixtures/model.int4.postcard");

type Flash = SimFlash<1, 8, 1024>;
const LAYOUT: Layout = Layout { start: 0, slot_size: 8 * 1024 };
const KEY_SEED: [u8; 32] = [7; 32];

fn flash() -> Flash {
    Flash::new(16)
}

/// How the store trusts payloads.
#[derive(Clone, Copy)]
enum Trust {
    Any,
    Signed { minimum: u32 },
}

/// A host and a device, booted on `flash` (the store and its buffer leak: a test's worth).
struct Host<'f> {
    device: Device<'f, &'f mut Flash>,
    sequence: u16,
}

impl<'f> Host<'f> {
    fn boot(flash: &'f mut Flash, trust: Trust) -> Self {
        let store = Box::leak(Box::new(Store::new(flash, LAYOUT).unwrap()));
        if let Trust::Signed { minimum } = trust {
            let key = SigningKey::from_bytes(&KEY_SEED).verifying_key().to_bytes();
            store.require_signature(key, minimum);
        }
        let scratch = vec![0; 8192].leak();
        store.boot(scratch).unwrap();
        Self { device: Device::new(store, scratch), sequence: 100 }
    }

    /// Feeds `bytes` to the device; returns the replies, parsed, and the slot a commit made
    /// active.
    fn feed(&mut self, bytes: &[u8]) -> (Vec<(u16, Owned)>, Option<Active>) {
        let (mut replies, mut committed) = (Vec::new(), None);
        for &byte in bytes {
            if let Some(reply) = self.device.receive(byte) {
                committed = committed.or(reply.committed);
                replies.push(decode(reply.bytes));
            }
        }
        (replies, committed)
    }

    /// Sends one request; returns the one reply.
    fn request(&mut self, request: Request<'_>) -> Owned {
        self.sequence = self.sequence.wrapping_add(1);
        let mut out = [0; MAX_WIRE];
        let sequence = self.sequence;
        let bytes = encode_request(sequence, &request, &mut out).to_vec();
        let (mut replies, _) = self.feed(&bytes);
        assert_eq!(replies.len(), 1, "one reply per request");
        let (echoed, reply) = replies.remove(0);
        assert_eq!(echoed, sequence);
        reply
    }

    /// Begin, all Data, Commit: the last reply.
    fn push(&mut self, payload: &[u8]) -> Owned {
        let (len, crc) = (payload.len() as u32, crc32(payload));
        assert_eq!(self.request(Request::Begin { len, crc }), Owned::Ack(0));
        for (i, chunk) in payload.chunks(MAX_CHUNK).enumerate() {
            let offset = (i * MAX_CHUNK) as u32;
            let end = offset + chunk.len() as u32;
            assert_eq!(self.request(Request::Data { offset, bytes: chunk }), Owned::Ack(end));
        }
        self.request(Request::Commit)
    }
}

/// A reply, owned, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Status(link::Status),
    Ack(u32),
    Committed(Slot, u32, u32),
    Refused(Reason, u32, String),
}

fn decode(wire: &[u8]) -> (u16, Owned) {
    let mut frames = Frames::new();
    let mut decoded = None;
    for &byte in wire {
        if let Some(frame) = frames.push(byte) {
            let (sequence, response) = parse_response(frame.unwrap()).unwrap();
            decoded = Some((sequence, owned(response)));
        }
    }
    decoded.expect("a reply ends with a delimiter")
}

fn owned(response: Response<'_>) -> Owned {
    match response {
        Response::Status(status) => Owned::Status(status),
        Response::Ack { received } => Owned::Ack(received),
        Response::Committed { slot, sequence, len } => Owned::Committed(slot, sequence, len),
        Response::Refused { reason, expected, message } => {
            Owned::Refused(reason, expected, message.to_owned())
        }
    }
}

/// The blob a freshly powered device boots.
fn booted(flash: &mut Flash, trust: Trust) -> Option<Vec<u8>> {
    flash.reboot();
    let mut store = Store::new(&mut *flash, LAYOUT).unwrap();
    if let Trust::Signed { minimum } = trust {
        store.require_signature(
            SigningKey::from_bytes(&KEY_SEED).verifying_key().to_bytes(),
            minimum,
        );
    }
    let mut buf = vec![0; 8192];
    store.boot(&mut buf).unwrap().map(|b| b.blob.to_vec())
}

/// A refusal's reason, checked to come with a message.
fn reason(reply: Owned) -> Reason {
    match reply {
        Owned::Refused(reason, _, message) => {
            assert!(!message.is_empty(), "{reason}: no message");
            reason
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn every_request_and_reply_round_trips() {
    let chunk: Vec<u8> = (0..MAX_CHUNK).map(|i| i as u8).collect();
    let requests = [
        Request::Hello,
        Request::Begin { len: 7, crc: 0xDEAD_BEEF },
        Request::Data { offset: 12, bytes: &[0] },
        Request::Data { offset: u32::MAX, bytes: &chunk },
        Request::Commit,
    ];
    for request in requests {
        let mut out = [0; MAX_WIRE];
        let wire = encode_request(0xABCD, &request, &mut out);
        assert_eq!(wire.iter().position(|&b| b == 0), Some(wire.len() - 1), "one delimiter, last");
        let mut frames = Frames::new();
        let frames: Vec<_> =
            wire.iter().filter_map(|&b| frames.push(b).map(|f| f.unwrap().to_vec())).collect();
        assert_eq!(parse_request(&frames[0]), Ok((0xABCD, request)));
    }
    let status = link::Status {
        capacity: 1,
        signed: true,
        active_sequence: 2,
        active_len: 3,
        transfer_len: 4,
        transfer_crc: 5,
        transfer_received: 6,
    };
    let responses = [
        Response::Status(status),
        Response::Ack { received: 9 },
        Response::Committed { slot: Slot::B, sequence: 3, len: 8000 },
        Response::Refused { reason: Reason::Rollback, expected: 0, message: "counter 2 < 3" },
    ];
    for response in responses {
        let mut out = [0; MAX_WIRE];
        assert_eq!(decode(encode_response(7, &response, &mut out)), (7, owned(response)));
    }
    for code in 0..=255 {
        assert_eq!(link::Reason::from_code(code).code(), code);
    }
}

#[test]
fn a_long_refusal_message_is_cut_at_a_character_boundary() {
    let message = "é".repeat(1000);
    let response = Response::Refused { reason: Reason::Invalid, expected: 0, message: &message };
    let mut out = [0; MAX_WIRE];
    let (_, Owned::Refused(_, _, cut)) = decode(encode_response(1, &response, &mut out)) else {
        panic!("a refusal")
    };
    assert!(!cut.is_empty() && message.starts_with(&cut));
}

#[test]
fn a_push_updates_the_store_and_alternates_slots() {
    let mut flash = flash();
    let mut host = Host::boot(&mut flash, Trust::Any);
    let Owned::Status(status) = host.request(Request::Hello) else { panic!("a status") };
    assert_eq!((status.active_sequence, status.signed, status.capacity), (0, false, 8160));
    assert_eq!(host.push(INT8), Owned::Committed(Slot::A, 1, INT8.len() as u32));
    assert_eq!(host.push(INT4), Owned::Committed(Slot::B, 2, INT4.len() as u32));
    let Owned::Status(status) = host.request(Request::Hello) else { panic!("a status") };
    assert_eq!((status.active_sequence, status.active_len), (2, INT4.len() as u32));
    assert_eq!(booted(&mut flash, Trust::Any).as_deref(), Some(INT4));
}

#[test]
fn a_commit_says_which_slot_to_boot() {
    let mut flash = flash();
    let mut host = Host::boot(&mut flash, Trust::Any);
    let (len, crc) = (INT8.len() as u32, crc32(INT8));
    let mut wire = Vec::new();
    let mut out = [0; MAX_WIRE];
    wire.extend(encode_request(1, &Request::Begin { len, crc }, &mut out));
    for (i, bytes) in INT8.chunks(MAX_CHUNK).enumerate() {
        let offset = (i * MAX_CHUNK) as u32;
        wire.extend(encode_request(2 + i as u16, &Request::Data { offset, bytes }, &mut out));
    }
    wire.extend(encode_request(999, &Request::Commit, &mut out));
    let (replies, committed) = host.feed(&wire);
    let committed = committed.expect("the commit reports the new slot");
    assert_eq!((committed.slot, committed.sequence, committed.len), (Slot::A, 1, INT8.len()));
    assert_eq!(replies.last().unwrap().0, 999);
}

#[test]
fn a_repeated_frame_gets_the_same_reply_and_acts_once() {
    let mut flash = flash();
    let mut host = Host::boot(&mut flash, Trust::Any);
    let mut out = [0; MAX_WIRE];
    let (len, crc) = (INT8.len() as u32, crc32(INT8));
    let begin = encode_request(1, &Request::Begin { len, crc }, &mut out).to_vec();
    assert_eq!(host.feed(&begin.repeat(2)).0, vec![(1, Owned::Ack(0)); 2]);
    let first =
        encode_request(2, &Request::Data { offset: 0, bytes: &INT8[..100] }, &mut out).to_vec();
    assert_eq!(host.feed(&first.repeat(3)).0, vec![(2, Owned::Ack(100)); 3]);
    // The same bytes under a new sequence number (a host that lost track): acknowledged, not
    // written twice.
    let again =
        encode_request(3, &Request::Data { offset: 0, bytes: &INT8[..150] }, &mut out).to_vec();
    assert_eq!(host.feed(&again).0, vec![(3, Owned::Ack(150))]);
    let rest = encode_request(4, &Request::Data { offset: 150, bytes: &INT8[150..650] }, &mut out)
        .to_vec();
    assert_eq!(host.feed(&rest).0, vec![(4, Owned::Ack(650))]);
    for (i, bytes) in INT8[650..].chunks(MAX_CHUNK).enumerate() {
        let offset = (650 + i * MAX_CHUNK) as u32;
        host.feed(encode_request(5 + i as u16, &Request::Data { offset, bytes }, &mut out));
    }
    let commit = encode_request(200, &Request::Commit, &mut out).to_vec();
    let (replies, committed) = host.feed(&commit.repeat(2));
    let done = (200, Owned::Committed(Slot::A, 1, len));
    assert_eq!(replies, vec![done.clone(), done]);
    assert!(committed.is_some());
    assert_eq!(booted(&mut flash, Trust::Any).as_deref(), Some(INT8));
}

#[test]
fn begin_with_the_same_payload_resumes() {
    let mut flash = flash();
    let mut host = Host::boot(&mut flash, Trust::Any);
    let (len, crc) = (INT8.len() as u32, crc32(INT8));
    assert_eq!(host.request(Request::Begin { len, crc }), Owned::Ack(0));
    assert_eq!(host.request(Request::Data { offset: 0, bytes: &INT8[..300] }), Owned::Ack(300));
    let Owned::Status(status) = host.request(Request::Hello) else { panic!("a status") };
    assert_eq!(
        (status.transfer_len, status.transfer_crc, status.transfer_received),
        (len, crc, 300)
    );
    assert_eq!(host.request(Request::Begin { len, crc }), Owned::Ack(300));
    // Another payload starts over.
    assert_eq!(
        host.request(Request::Begin { len: INT4.len() as u32, crc: crc32(INT4) }),
        Owned::Ack(0)
    );
    assert_eq!(host.push(INT8), Owned::Committed(Slot::A, 1, len));
}

#[test]
fn bad_frames_and_garbage_are_refused_and_change_nothing() {
    let mut flash = flash();
    let mut host = Host::boot(&mut flash, Trust::Any);
    host.push(INT8);
    let mut out = [0; MAX_WIRE];
    let mut corrupted = encode_request(5, &Request::Begin { len: 10, crc: 0 }, &mut out).to_vec();
    corrupted[3] ^= 0x40;
    let too_long = [vec![1u8; 2000], vec![0]].concat();
    let bad_cobs = [0x05, 1, 0];
    let too_short = [0x02, 0x01, 0];
    for wire in [&corrupted[..], &too_long, &bad_cobs, &too_short] {
        let (replies, _) = host.feed(wire);
        assert_eq!(replies.len(), 1);
        let (sequence, reply) = replies[0].clone();
        assert_eq!((sequence, reason(reply)), (UNKNOWN_SEQUENCE, Reason::BadFrame));
    }
    // Empty frames are no frames.
    assert!(host.feed(&[0, 0, 0]).0.is_empty());
    // Garbage: every reply is a refusal, and the device still works.
    let mut rng = 0x1234_5678_u64;
    let garbage: Vec<u8> = (0..20_000)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            if rng.is_multiple_of(50) { 0 } else { (rng >> 24) as u8 }
        })
        .collect();
    let (replies, committed) = host.feed(&garbage);
    assert!(committed.is_none() && !replies.is_empty());
    assert!(replies.iter().all(|(_, r)| matches!(r, Owned::Refused(Reason::BadFrame, ..))));
    host.feed(&[0]);
    assert_eq!(host.push(INT4), Owned::Committed(Slot::B, 2, INT4.len() as u32));
}

/// Frames whose CRC-32 is right but whose body is wrong for its kind.
fn raw_frame(body: &[u8]) -> Vec<u8> {
    let mut frame = body.to_vec();
    frame.extend(crc32(body).to_le_bytes());
    let mut out = vec![0; frame.len() * 2 + 2];
    let n = cobs::encode(&frame, &mut out);
    out.truncate(n);
    out.push(0);
    out
}

#[test]
fn every_refusal_keeps_the_active_model() {
    let mut flash = flash();
    let mut host = Host::boot(&mut flash, Trust::Any);
    host.push(INT8);
    let refusals: Vec<(Reason, Vec<u8>)> = vec![
        (Reason::BadLength, raw_frame(&[0x02, 9, 0, 1, 2, 3, 4, 5])),
        (Reason::BadLength, raw_frame(&[0x01, 9, 0, 1])),
        (Reason::BadLength, raw_frame(&[0x03, 9, 0, 0, 0, 0, 0])),
        (Reason::BadLength, raw_frame(&[0x04, 9, 0, 0])),
        (Reason::UnknownRequest, raw_frame(&[0x7F, 9, 0])),
        (Reason::NoTransfer, raw_frame(&[0x03, 9, 0, 0, 0, 0, 0, 1])),
        (Reason::NoTransfer, raw_frame(&[0x04, 10, 0])),
    ];
    for (expected, wire) in refusals {
        let (replies, _) = host.feed(&wire);
        assert_eq!(reason(replies[0].1.clone()), expected);
    }
    let capacity = 8160;
    assert_eq!(
        reason(host.request(Request::Begin { len: capacity + 1, crc: 0 })),
        Reason::TooLarge
    );
    // Data at a gap, and past the end.
    let (len, crc) = (INT4.len() as u32, crc32(INT4));
    host.request(Request::Begin { len, crc });
    host.request(Request::Data { offset: 0, bytes: &INT4[..200] });
    let gap = host.request(Request::Data { offset: 300, bytes: &INT4[300..400] });
    assert_eq!(
        gap,
        Owned::Refused(Reason::OutOfOrder, 200, "expected bytes from offset 200".into())
    );
    let tail = &INT4[200..];
    for (i, bytes) in tail.chunks(MAX_CHUNK).enumerate() {
        host.request(Request::Data { offset: 200 + (i * MAX_CHUNK) as u32, bytes });
    }
    assert_eq!(reason(host.request(Request::Data { offset: len, bytes: &[1] })), Reason::Overrun);
    // A truncated transfer: commit refused, and the transfer goes on.
    host.request(Request::Begin { len, crc });
    let Owned::Status(status) = host.request(Request::Hello) else { panic!() };
    assert_eq!(status.transfer_received, len);
    // A payload whose bytes differ from the announced CRC-32.
    host.request(Request::Begin { len: 100, crc: 1 });
    host.request(Request::Data { offset: 0, bytes: &INT4[..50] });
    assert_eq!(reason(host.request(Request::Commit)), Reason::Incomplete);
    host.request(Request::Data { offset: 50, bytes: &INT4[50..100] });
    assert_eq!(reason(host.request(Request::Commit)), Reason::CrcMismatch);
    // Bytes that are not a blob.
    let mut damaged = INT8.to_vec();
    damaged[40] ^= 1;
    assert_eq!(reason(host.push(&damaged)), Reason::Invalid);
    assert_eq!(reason(host.push(&[0xAB; 3000])), Reason::Invalid);
    assert_eq!(booted(&mut flash, Trust::Any).as_deref(), Some(INT8));
}

#[test]
fn a_device_that_requires_signatures_refuses_unsigned_forged_and_older_models() {
    let mut flash = flash();
    let key = SigningKey::from_bytes(&KEY_SEED);
    let trust = Trust::Signed { minimum: 2 };
    let mut host = Host::boot(&mut flash, trust);
    let Owned::Status(status) = host.request(Request::Hello) else { panic!() };
    assert!(status.signed);
    assert_eq!(reason(host.push(INT8)), Reason::Unsigned);
    let forged = signed::seal(INT8, 5, &SigningKey::from_bytes(&[8; 32]));
    assert_eq!(reason(host.push(&forged)), Reason::BadSignature);
    assert_eq!(reason(host.push(&signed::seal(INT8, 1, &key))), Reason::Rollback);
    let v5 = signed::seal(INT8, 5, &key);
    assert_eq!(host.push(&v5), Owned::Committed(Slot::A, 1, v5.len() as u32));
    // Not below the active model's counter either.
    let Owned::Refused(Reason::Rollback, _, message) = host.push(&signed::seal(INT4, 4, &key))
    else {
        panic!("a rollback")
    };
    assert!(message.contains('4') && message.contains('5'), "{message}");
    let v5_again = signed::seal(INT4, 5, &key);
    assert_eq!(host.push(&v5_again), Owned::Committed(Slot::B, 2, v5_again.len() as u32));
    // The store hands out the blob inside the envelope.
    assert_eq!(booted(&mut flash, trust).as_deref(), Some(INT4));
}

#[test]
fn a_flash_failure_is_refused_and_the_next_push_works() {
    let mut flash = flash();
    Host::boot(&mut flash, Trust::Any).push(INT8);
    flash.reboot();
    // The 3rd operation of the next update: an erase of the inactive slot's sectors.
    flash.arm(Cut { op: 3, done: 10, seed: 1 });
    let mut host = Host::boot(&mut flash, Trust::Any);
    assert_eq!(
        reason(host.request(Request::Begin { len: INT4.len() as u32, crc: crc32(INT4) })),
        Reason::Flash
    );
    assert_eq!(booted(&mut flash, Trust::Any).as_deref(), Some(INT8));
    assert_eq!(
        Host::boot(&mut flash, Trust::Any).push(INT4),
        Owned::Committed(Slot::B, 2, INT4.len() as u32)
    );
}

/// The bytes a host sends for a whole update of `payload`.
fn transfer(payload: &[u8]) -> Vec<u8> {
    let mut out = [0; MAX_WIRE];
    let (len, crc) = (payload.len() as u32, crc32(payload));
    let mut wire = encode_request(1, &Request::Begin { len, crc }, &mut out).to_vec();
    for (i, bytes) in payload.chunks(MAX_CHUNK).enumerate() {
        let offset = (i * MAX_CHUNK) as u32;
        wire.extend(encode_request(2 + i as u16, &Request::Data { offset, bytes }, &mut out));
    }
    wire.extend(encode_request(0x7777, &Request::Commit, &mut out));
    wire
}

#[test]
fn the_power_may_fail_after_any_byte_of_a_transfer() {
    let started = Instant::now();
    let mut base = flash();
    Host::boot(&mut base, Trust::Any).push(INT8);
    let wire = transfer(INT4);
    for cut in 0..=wire.len() {
        let mut flash = base.clone();
        flash.reboot();
        let (_, committed) = Host::boot(&mut flash, Trust::Any).feed(&wire[..cut]);
        let expected = if committed.is_some() { INT4 } else { INT8 };
        assert_eq!(
            booted(&mut flash, Trust::Any).as_deref(),
            Some(expected),
            "cut after byte {cut}"
        );
        assert_eq!(committed.is_some(), cut == wire.len(), "only the last byte commits");
        let (_, again) = Host::boot(&mut flash, Trust::Any).feed(&transfer(INT4));
        assert!(again.is_some(), "the next transfer after a cut at byte {cut} commits");
    }
    // Past the test harness's capture, so that every test log shows how many cuts ran.
    let _ = writeln!(
        std::io::stderr(),
        "link power cuts tested: {} in {:.1} s",
        wire.len() + 1,
        started.elapsed().as_secs_f64()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the bytes, the device answers without panicking, and the store still boots
    /// the old model unless a reply said it committed.
    #[test]
    fn any_bytes_leave_a_bootable_model(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut flash = flash();
        Host::boot(&mut flash, Trust::Any).push(INT8);
        flash.reboot();
        let (_, committed) = Host::boot(&mut flash, Trust::Any).feed(&bytes);
        prop_assert!(committed.is_none());
        let blob = booted(&mut flash, Trust::Any);
        prop_assert_eq!(blob.as_deref(), Some(INT8));
    }
}

#[test]
fn the_device_learns_each_refusal_once() {
    let mut flash = flash();
    let mut host = Host::boot(&mut flash, Trust::Any);
    let mut out = [0; MAX_WIRE];
    let commit = encode_request(3, &Request::Commit, &mut out).to_vec();
    let refused: Vec<_> = commit
        .repeat(2)
        .iter()
        .filter_map(|&byte| host.device.receive(byte).map(|reply| reply.refused))
        .collect();
    assert_eq!(refused, [Some(Reason::NoTransfer), None]);
    let hello = encode_request(4, &Request::Hello, &mut out).to_vec();
    let replies: Vec<_> =
        hello.iter().filter_map(|&byte| host.device.receive(byte).map(|r| r.refused)).collect();
    assert_eq!(replies, [None]);
}
