//! `trainer push` against a simulated device: infer-core's own link `Device` and store on a
//! NOR flash in RAM, served by a thread over TCP (through a link that can lose, damage or cut
//! frames) or over a pseudo-terminal, as a serial port.
//! Each test checks what the CLI says and what the device boots afterwards.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash, check_erase, check_read, check_write,
};
use infer_core::link::Device;
use infer_core::store::{Active, Layout, Slot, Store};
use serialport::{SerialPort, TTYPort};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");
const SECTOR: usize = 4096;
/// How late a late reply is: longer than the tests' `--timeout`.
const LATE: Duration = Duration::from_millis(250);
/// Holds the largest fixture, the f32 blob (31436 bytes), and its header.
const SLOT: usize = 8 * SECTOR;

/// NOR flash in RAM, with the rules of real parts: erased cells read `FF`, a program clears
/// bits only, an erase sets whole sectors to `FF`.
struct Flash(Vec<u8>);

impl ErrorType for Flash {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for Flash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        check_read(self, offset, bytes.len())?;
        bytes.copy_from_slice(&self.0[offset as usize..][..bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.0.len()
    }
}

impl NorFlash for Flash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = SECTOR;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        check_erase(self, from, to)?;
        self.0[from as usize..to as usize].fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        check_write(self, offset, bytes.len())?;
        let cells = &mut self.0[offset as usize..][..bytes.len()];
        cells.iter_mut().zip(bytes).for_each(|(cell, byte)| *cell &= byte);
        Ok(())
    }
}

/// A booted store on an erased flash; `trust` may require signatures before the boot.
fn store(trust: impl FnOnce(&mut Store<Flash>)) -> Store<Flash> {
    let flash = Flash(vec![0xFF; 2 * SLOT]);
    let mut store = Store::new(flash, Layout { start: 0, slot_size: SLOT as u32 }).unwrap();
    trust(&mut store);
    assert!(store.boot(&mut vec![0; SLOT]).unwrap().is_none());
    store
}

/// What the link between host and device does wrong, counted in frames of one connection.
#[derive(Clone, Copy, Default)]
struct Faults {
    /// Every n-th frame from the host never reaches the device.
    drop_every: Option<usize>,
    /// Every n-th frame from the host arrives with one byte changed.
    damage_every: Option<usize>,
    /// The device's reply to every n-th frame is lost.
    lose_reply_every: Option<usize>,
    /// The device's reply to every n-th frame comes [`LATE`].
    late_reply_every: Option<usize>,
    /// The device answers this many frames, takes half of the next and hangs up.
    hang_up_after: Option<usize>,
    /// The device never answers.
    mute: bool,
}

impl Faults {
    /// The device's reply to frame number `n`, as it reaches the host: nothing when the frame
    /// or the reply is lost.
    fn answer(&self, device: &mut Device<'_, Flash>, frame: &mut [u8], n: usize) -> Vec<u8> {
        let hits = |every: Option<usize>| every.is_some_and(|every| n.is_multiple_of(every));
        if self.mute || hits(self.drop_every) {
            return Vec::new();
        }
        if hits(self.damage_every) {
            let middle = frame.len() / 2;
            frame[middle] = frame[middle].wrapping_add(1).max(1);
        }
        let reply = feed(device, frame);
        if hits(self.late_reply_every) {
            thread::sleep(LATE);
        }
        if hits(self.lose_reply_every) { Vec::new() } else { reply }
    }
}

/// The active slot and its blob, `None` for the compiled-in model.
type Booted = Option<(Active, Vec<u8>)>;

/// After a connection: the frames that arrived, and the model the device then boots.
struct Visit {
    frames: usize,
    booted: Booted,
}

/// A device on 127.0.0.1 that takes one connection per entry of its plan, in turn.
struct SimDevice {
    port: String,
    visits: Receiver<Visit>,
}

impl SimDevice {
    fn start(mut store: Store<Flash>, plan: Vec<Faults>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().to_string();
        let (sender, visits) = mpsc::channel();
        thread::spawn(move || {
            let mut scratch = vec![0; SLOT];
            let mut device = Device::new(&mut store, &mut scratch);
            for faults in plan {
                let (mut stream, _) = listener.accept().unwrap();
                let frames = serve(&mut device, &mut stream, faults, &|| true);
                sender.send(visit(&mut device, frames)).unwrap();
            }
        });
        Self { port, visits }
    }

    /// What the device saw and boots once the push's connection has ended.
    fn visit(&self) -> Visit {
        self.visits.recv_timeout(Duration::from_secs(30)).expect("the push connected")
    }
}

/// Serves one connection until the host closes it, the plan hangs up, or (on a serial line,
/// which never closes) `done` says so after a read timed out; returns the frames that arrived.
fn serve(
    device: &mut Device<'_, Flash>,
    link: &mut (impl Read + Write),
    faults: Faults,
    done: &dyn Fn() -> bool,
) -> usize {
    let (mut frame, mut frames, mut buf) = (Vec::new(), 0, [0; 4096]);
    loop {
        let n = match link.read(&mut buf) {
            Ok(n @ 1..) => n,
            Err(e) if e.kind() == ErrorKind::TimedOut && !done() => continue,
            _ => return frames,
        };
        for &byte in &buf[..n] {
            frame.push(byte);
            if byte != 0 {
                continue;
            }
            frames += 1;
            if faults.hang_up_after.is_some_and(|n| frames > n) {
                feed(device, &frame[..frame.len() / 2]);
                return frames;
            }
            let reply = faults.answer(device, &mut frame, frames);
            frame.clear();
            if link.write_all(&reply).is_err() {
                return frames;
            }
        }
    }
}

/// The device's replies to `bytes`.
fn feed(device: &mut Device<'_, Flash>, bytes: &[u8]) -> Vec<u8> {
    let mut replies = Vec::new();
    for &byte in bytes {
        if let Some(reply) = device.receive(byte) {
            replies.extend_from_slice(reply.bytes);
        }
    }
    replies
}

/// The frames that arrived, and what the device boots now.
fn visit(device: &mut Device<'_, Flash>, frames: usize) -> Visit {
    let mut buf = vec![0; SLOT];
    let booted = device.store().boot(&mut buf).unwrap();
    Visit { frames, booted: booted.map(|b| (b.active, b.blob.to_vec())) }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn push(file: &str, port: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["push", file, "--port", port])
        .args(extra)
        .output()
        .unwrap()
}

fn push_fixture(name: &str, device: &SimDevice, extra: &[&str]) -> Output {
    push_fixture_to(name, &device.port, extra)
}

fn push_fixture_to(name: &str, port: &str, extra: &[&str]) -> Output {
    push(&format!("{FIXTURES}/{name}"), port, extra)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts success; returns stdout.
fn succeeded(output: &Output) -> String {
    assert!(output.status.success(), "{:?}: {}", output.status, text(&output.stderr));
    text(&output.stdout)
}

/// Asserts exit status `code`; returns stderr.
fn failed_with(output: &Output, code: i32) -> String {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stderr)
}

/// What a store that took `blob` as a plain blob boots.
fn plain(slot: Slot, sequence: u32, blob: &[u8]) -> Booted {
    Some((Active { slot, sequence, len: blob.len(), counter: 0 }, blob.to_vec()))
}

/// What a store that took `blob` in an envelope signed with `counter` boots: the blob inside.
fn signed(slot: Slot, sequence: u32, counter: u32, blob: &[u8]) -> Booted {
    let len = infer_core::signed::HEADER_LEN + blob.len() + infer_core::signed::SIGNATURE_LEN;
    Some((Active { slot, sequence, len, counter }, blob.to_vec()))
}

/// A file in a fresh temporary directory.
fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path.to_str().unwrap().to_owned())
}

#[test]
fn pushes_go_to_alternate_slots_and_boot_bit_for_bit() {
    let device = SimDevice::start(store(|_| {}), vec![Faults::default(); 3]);
    let (int8, int4, f32) = (
        fixture("model.int8.postcard"),
        fixture("model.int4.postcard"),
        fixture("model.f32.postcard"),
    );

    let stdout = succeeded(&push_fixture("model.int8.postcard", &device, &[]));
    assert!(stdout.starts_with("model: 7964 bytes, plain blob\n"), "{stdout}");
    assert!(
        stdout.contains("up to 32736 bytes, signed or plain; runs its compiled-in"),
        "{stdout}"
    );
    assert!(!stdout.contains("resuming"), "{stdout}");
    assert!(
        stdout.ends_with("device runs the new model: slot A, sequence 1, 7964 bytes\n"),
        "{stdout}"
    );
    assert_eq!(device.visit().booted, plain(Slot::A, 1, &int8));

    let stdout = succeeded(&push_fixture("model.int4.postcard", &device, &["-q"]));
    assert_eq!(stdout, "device runs the new model: slot B, sequence 2, 4044 bytes\n");
    assert_eq!(device.visit().booted, plain(Slot::B, 2, &int4));

    let stdout = succeeded(&push_fixture("model.f32.postcard", &device, &["--json"]));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let expected = serde_json::json!({"slot": "A", "sequence": 3, "bytes": 31436, "resumed_at": 0});
    assert_eq!(json, expected);
    assert_eq!(device.visit().booted, plain(Slot::A, 3, &f32));
}

#[test]
fn a_lossy_link_costs_resends_not_the_update() {
    let faults = Faults {
        drop_every: Some(7),
        damage_every: Some(3),
        lose_reply_every: Some(5),
        ..Faults::default()
    };
    let device = SimDevice::start(store(|_| {}), vec![faults]);
    let blob = fixture("model.int8.postcard");
    let stdout =
        succeeded(&push_fixture("model.int8.postcard", &device, &["--timeout", "0.1", "-q"]));
    assert_eq!(stdout, "device runs the new model: slot A, sequence 1, 7964 bytes\n");
    let visit = device.visit();
    // Hello, Begin, 16 chunks and Commit, each lost or damaged frame sent again.
    assert!(visit.frames > 19 + 19 / 3 + 19 / 5 + 19 / 7, "{} frames", visit.frames);
    assert_eq!(visit.booted, plain(Slot::A, 1, &blob));
}

#[test]
fn a_cut_transfer_resumes_where_the_device_stopped() {
    // Hello, Begin and 5 chunks of 512 bytes arrive, then half of the 6th: the host is gone.
    let cut = Faults { hang_up_after: Some(7), ..Faults::default() };
    let device = SimDevice::start(store(|_| {}), vec![cut, Faults::default()]);
    let blob = fixture("model.int8.postcard");

    let stderr = failed_with(&push_fixture("model.int8.postcard", &device, &[]), 74);
    assert!(stderr.contains("failed during Data: the device closed the connection"), "{stderr}");
    assert!(stderr.contains("pushing the same file again resumes"), "{stderr}");
    assert_eq!(device.visit().booted, None);

    let stdout = succeeded(&push_fixture("model.int8.postcard", &device, &[]));
    assert!(stdout.contains("resuming at byte 2560 of 7964"), "{stdout}");
    let visit = device.visit();
    // Hello (run into the half frame: refused as damaged, sent again), Hello, Begin, the 11
    // chunks left and Commit.
    assert_eq!(visit.frames, 15);
    assert_eq!(visit.booted, plain(Slot::A, 1, &blob));
}

#[test]
fn late_replies_are_told_apart_by_their_sequence_number() {
    // Every 3rd reply comes after two resends of its request, each answered again: the host
    // takes the first and skips the others while it waits for the next reply.
    let late = Faults { late_reply_every: Some(3), ..Faults::default() };
    let device = SimDevice::start(store(|_| {}), vec![late]);
    let blob = fixture("model.int4.postcard");
    let stdout =
        succeeded(&push_fixture("model.int4.postcard", &device, &["--timeout", "0.1", "-q"]));
    assert_eq!(stdout, "device runs the new model: slot A, sequence 1, 4044 bytes\n");
    let visit = device.visit();
    assert!(visit.frames > 11 + 2, "{} frames", visit.frames);
    assert_eq!(visit.booted, plain(Slot::A, 1, &blob));
}

#[test]
fn a_device_that_requires_signatures_decides_and_the_host_says_why() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let public_key = key.verifying_key().to_bytes();
    let device =
        SimDevice::start(store(|s| s.require_signature(public_key, 2)), vec![Faults::default(); 4]);
    let (int8, int4) = (fixture("model.int8.postcard"), fixture("model.int4.postcard"));
    let sealed = |blob: &[u8], counter| infer_core::signed::seal(blob, counter, &key);
    let (_dir5, int8_at_5) = temp_file("int8.signed", &sealed(&int8, 5));
    let (_dir4, int4_at_4) = temp_file("int4-old.signed", &sealed(&int4, 4));
    let (_dir6, int4_at_6) = temp_file("int4.signed", &sealed(&int4, 6));

    let stdout = succeeded(&push(&int8_at_5, &device.port, &[]));
    assert!(stdout.contains("model: 8044 bytes, signed envelope, counter 5"), "{stdout}");
    assert!(stdout.contains("signed only; runs its compiled-in model"), "{stdout}");
    assert!(stdout.ends_with("slot A, sequence 1, 8044 bytes\n"), "{stdout}");
    assert_eq!(device.visit().booted, signed(Slot::A, 1, 5, &int8));

    // A plain blob passes the host's check: refusing it is the device's business.
    let stderr = failed_with(&push_fixture("model.int4.postcard", &device, &[]), 65);
    assert!(stderr.contains("device refused the model"), "{stderr}");
    assert!(stderr.contains("unsigned"), "{stderr}");
    assert!(stderr.contains("it still runs its previous model"), "{stderr}");
    assert_eq!(device.visit().booted, signed(Slot::A, 1, 5, &int8));

    let stderr = failed_with(&push(&int4_at_4, &device.port, &[]), 65);
    assert!(stderr.contains("security counter below the device's"), "{stderr}");
    assert_eq!(device.visit().booted, signed(Slot::A, 1, 5, &int8));

    let stdout = succeeded(&push(&int4_at_6, &device.port, &["-q"]));
    assert_eq!(stdout, "device runs the new model: slot B, sequence 2, 4124 bytes\n");
    assert_eq!(device.visit().booted, signed(Slot::B, 2, 6, &int4));
}

#[test]
fn a_silent_device_fails_after_the_retries() {
    let device = SimDevice::start(store(|_| {}), vec![Faults { mute: true, ..Faults::default() }]);
    let start = Instant::now();
    let output =
        push_fixture("model.int8.postcard", &device, &["--timeout", "0.1", "--retries", "2"]);
    let stderr = failed_with(&output, 69);
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    assert!(stderr.contains("the device did not answer Hello (3 tries, 0.1 s each)"), "{stderr}");
    assert!(stderr.contains("check the port, the baud rate"), "{stderr}");
    let visit = device.visit();
    assert_eq!((visit.frames, visit.booted), (3, None));
}

#[test]
fn a_serial_port_carries_the_push_too() {
    let (mut pty, device_end) = TTYPort::pair().unwrap();
    let path = device_end.name().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let device = thread::spawn({
        let done = Arc::clone(&done);
        move || {
            let (mut store, mut scratch) = (store(|_| {}), vec![0; SLOT]);
            let mut device = Device::new(&mut store, &mut scratch);
            let frames =
                serve(&mut device, &mut pty, Faults::default(), &|| done.load(Ordering::SeqCst));
            visit(&mut device, frames)
        }
    });
    let blob = fixture("model.int4.postcard");
    let output = push_fixture_to("model.int4.postcard", &path, &["--baud", "57600", "-q"]);
    done.store(true, Ordering::SeqCst);
    let visit = device.join().unwrap();
    drop(device_end);
    assert_eq!(succeeded(&output), "device runs the new model: slot A, sequence 1, 4044 bytes\n");
    // Hello, Begin, 8 chunks, Commit.
    assert_eq!(visit.frames, 11);
    assert_eq!(visit.booted, plain(Slot::A, 1, &blob));
}

#[test]
fn ctrl_c_stops_a_push_that_waits_for_a_reply() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().to_string();
    let model = format!("{FIXTURES}/model.int8.postcard");
    let child = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["push", &model, "--port", &port, "--timeout", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Connected: the signal handler is in place, and the host waits for a Hello reply.
    let (_silent, _) = listener.accept().unwrap();
    let start = Instant::now();
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let stderr = failed_with(&child.wait_with_output().unwrap(), 130);
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert!(stderr.contains("interrupted during Hello"), "{stderr}");
}

#[test]
fn a_file_that_is_not_a_model_is_refused_before_connecting() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().to_string();
    let random: Vec<u8> =
        (0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let (_dir, random) = temp_file("random.postcard", &random);
    let mut truncated = fixture("model.int8.postcard");
    truncated.truncate(5000);
    let (_dir2, truncated) = temp_file("truncated.postcard", &truncated);
    let safetensors = format!("{FIXTURES}/model.int8.safetensors");
    for file in [&random, &truncated, &safetensors] {
        let stderr = failed_with(&push(file, &port, &[]), 65);
        assert!(stderr.contains("is not a model blob or signed envelope"), "{stderr}");
        assert!(stderr.contains("nothing sent"), "{stderr}");
        let accepted = listener.accept().map(drop).map_err(|e| e.kind());
        assert_eq!(accepted, Err(std::io::ErrorKind::WouldBlock), "{file}");
    }
}

#[test]
fn ports_that_cannot_be_opened_are_clear_errors() {
    let model = format!("{FIXTURES}/model.int8.postcard");
    let stderr = failed_with(&push(&model, "/dev/no-such-serial-port", &[]), 69);
    assert!(stderr.contains("cannot open /dev/no-such-serial-port"), "{stderr}");

    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let stderr = failed_with(&push(&model, &format!("tcp://{closed}"), &[]), 69);
    assert!(stderr.contains(&format!("cannot open tcp://{closed}")), "{stderr}");

    let stderr = failed_with(&push(&model, "ttyUSB0", &[]), 2);
    assert!(stderr.contains("neither HOST:PORT nor the path of a serial device"), "{stderr}");
}
