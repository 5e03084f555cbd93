//! The device side of the link: requests in, replies out, the store updated in between.

use core::fmt::Write;

use embedded_storage::nor_flash::NorFlash;

use super::frame::{FrameError, Frames, MAX_WIRE};
use super::message::{Reason, Request, Response, Status, encode_response, parse_request};
use crate::Error;
use crate::store::{Active, Progress, Store, StoreError, Update};

/// The sequence number of a reply to bytes that were not a frame.
pub const UNKNOWN_SEQUENCE: u16 = 0xFFFF;

/// Bytes of a refusal's message.
const MESSAGE_LEN: usize = 120;

/// Serves the link for one store: feed it every byte received ([`Device::receive`]) and send
/// back what it returns. It never allocates or panics, whatever the bytes.
#[derive(Debug)]
pub struct Device<'s, F> {
    store: &'s mut Store<F>,
    /// Where a payload is read back at commit.
    scratch: &'s mut [u8],
    frames: Frames,
    transfer: Option<Transfer>,
    /// The CRC-32 of the last request's frame (the one it came with), whose reply `out` holds: a repeat of the same
    /// frame (the reply was lost) gets the same reply, and nothing is done twice.
    last: Option<u32>,
    out: [u8; MAX_WIRE],
    out_len: usize,
    /// The reply to a bad frame, apart from `out`, which a repeat may still need.
    bad: [u8; 32],
}

/// An update in progress, between frames.
#[derive(Debug)]
struct Transfer {
    progress: Progress,
    /// The CRC-32 the host announced for the whole payload.
    crc: u32,
}

/// What to send back, and whether a new model just became active.
#[derive(Debug)]
pub struct Reply<'a> {
    /// The reply frame, on the wire.
    pub bytes: &'a [u8],
    /// The slot a commit just made active: boot it to run the new model.
    pub committed: Option<Active>,
    /// Why the request was refused, if it was (once: not again for a repeated frame), for the
    /// device's own log.
    pub refused: Option<Reason>,
}

/// What a request comes to: a reply, with the slot a commit made active; or a refusal.
enum Outcome {
    Reply(Response<'static>, Option<Active>),
    /// Why, where to continue from, and the device's words.
    Refuse(Reason, u32, heapless::String<MESSAGE_LEN>),
}

/// A refusal with a formatted message (cut off if longer than a frame takes).
fn refuse(reason: Reason, expected: u32, message: core::fmt::Arguments<'_>) -> Outcome {
    let mut text = heapless::String::new();
    let _ = text.write_fmt(message);
    Outcome::Refuse(reason, expected, text)
}

/// The refusal for a store's error.
fn refuse_store<E: core::fmt::Debug>(error: StoreError<E>) -> Outcome {
    let (reason, expected) = match error {
        StoreError::TooLarge { .. } | StoreError::BufferTooSmall { .. } => (Reason::TooLarge, 0),
        StoreError::OutOfOrder { expected } => (Reason::OutOfOrder, expected as u32),
        StoreError::Overrun { .. } => (Reason::Overrun, 0),
        StoreError::Incomplete { .. } => (Reason::Incomplete, 0),
        // The blob's or envelope's own words say it best.
        StoreError::Payload(error) => {
            return refuse(payload_reason(error), 0, format_args!("{error}"));
        }
        StoreError::NotBooted => (Reason::NotBooted, 0),
        _ => (Reason::Flash, 0),
    };
    refuse(reason, expected, format_args!("{error}"))
}

#[cfg(feature = "signed")]
fn payload_reason(error: Error) -> Reason {
    match error {
        Error::Unsigned => Reason::Unsigned,
        Error::BadSignature | Error::BadPublicKey => Reason::BadSignature,
        Error::Rollback { .. } => Reason::Rollback,
        _ => Reason::Invalid,
    }
}

/// Without `signed`, every payload error says the payload is not a valid blob.
#[cfg(not(feature = "signed"))]
fn payload_reason(_: Error) -> Reason {
    Reason::Invalid
}

impl<'s, F: NorFlash> Device<'s, F> {
    /// Serves `store`, which [`Store::boot`] has booted; `scratch` must hold the longest
    /// payload ([`Store::capacity`] bytes), or longer updates are refused at commit.
    pub fn new(store: &'s mut Store<F>, scratch: &'s mut [u8]) -> Self {
        let (frames, out, bad) = (Frames::new(), [0; MAX_WIRE], [0; 32]);
        Self { store, scratch, frames, transfer: None, last: None, out, out_len: 0, bad }
    }

    /// The store, e.g. to boot the model a commit made active.
    pub fn store(&mut self) -> &mut Store<F> {
        self.store
    }

    /// Takes one received byte; when it ends a frame, the reply to send.
    pub fn receive(&mut self, byte: u8) -> Option<Reply<'_>> {
        // The frame copied out of the decoder, which `serve` borrows `self` around.
        let mut body = [0; super::MAX_FRAME];
        let body = match self.frames.push(byte)? {
            Ok(frame) => {
                let body = body.get_mut(..frame.len())?;
                body.copy_from_slice(frame);
                body
            }
            Err(error) => return Some(self.bad_frame(error)),
        };
        let key = self.frames.crc();
        if self.last == Some(key) {
            let bytes = self.out.get(..self.out_len)?;
            return Some(Reply { bytes, committed: None, refused: None });
        }
        let sequence =
            body.first_chunk::<3>().map_or(UNKNOWN_SEQUENCE, |h| u16::from_le_bytes([h[1], h[2]]));
        let outcome = match parse_request(body) {
            Ok((_, request)) => self.serve(request),
            Err(reason) => refuse(reason, 0, format_args!("{reason}")),
        };
        let (response, committed, refused) = match &outcome {
            Outcome::Reply(response, committed) => (*response, *committed, None),
            Outcome::Refuse(reason, expected, message) => {
                let (reason, expected) = (*reason, *expected);
                (Response::Refused { reason, expected, message }, None, Some(reason))
            }
        };
        self.out_len = encode_response(sequence, &response, &mut self.out).len();
        self.last = Some(key);
        Some(Reply { bytes: self.out.get(..self.out_len)?, committed, refused })
    }

    fn bad_frame(&mut self, error: FrameError) -> Reply<'_> {
        let message = match error {
            FrameError::Encoding => "COBS",
            FrameError::TooLong => "too long",
            FrameError::TooShort => "too short",
            FrameError::Crc => "CRC-32",
        };
        let response = Response::Refused { reason: Reason::BadFrame, expected: 0, message };
        let bytes = encode_response(UNKNOWN_SEQUENCE, &response, &mut self.bad);
        Reply { bytes, committed: None, refused: Some(Reason::BadFrame) }
    }

    fn serve(&mut self, request: Request<'_>) -> Outcome {
        match request {
            Request::Hello => Outcome::Reply(Response::Status(self.status()), None),
            Request::Begin { len, crc } => self.begin(len, crc),
            Request::Data { offset, bytes } => self.data(offset as usize, bytes),
            Request::Commit => self.commit(),
        }
    }

    fn status(&self) -> Status {
        let active = self.store.active();
        let transfer = self.transfer.as_ref();
        Status {
            capacity: self.store.capacity() as u32,
            signed: self.store.requires_signature(),
            active_sequence: active.map_or(0, |a| a.sequence),
            active_len: active.map_or(0, |a| a.len as u32),
            transfer_len: transfer.map_or(0, |t| t.progress.len() as u32),
            transfer_crc: transfer.map_or(0, |t| t.crc),
            transfer_received: transfer.map_or(0, |t| t.progress.received() as u32),
        }
    }

    /// Resumes the update in progress if it is the same payload, else starts one.
    fn begin(&mut self, len: u32, crc: u32) -> Outcome {
        if let Some(t) =
            self.transfer.as_ref().filter(|t| (t.progress.len(), t.crc) == (len as usize, crc))
        {
            return ack(t.progress.received());
        }
        self.transfer = None;
        match self.store.begin_update(len as usize) {
            Ok(update) => {
                self.transfer = Some(Transfer { progress: update.pause(), crc });
                ack(0)
            }
            Err(error) => refuse_store(error),
        }
    }

    /// Writes the bytes not received yet; a repeat of bytes received is acknowledged again.
    fn data(&mut self, offset: usize, bytes: &[u8]) -> Outcome {
        let Some(transfer) = self.transfer.take() else { return no_transfer() };
        let received = transfer.progress.received();
        let new = offset
            .checked_add(bytes.len())
            .filter(|_| offset <= received)
            .map(|end| (received, bytes.get(received.min(end) - offset..).unwrap_or_default()));
        let (at, new) = new.unwrap_or((offset, bytes));
        let mut update = Update::resume(&mut *self.store, transfer.progress);
        let written = if new.is_empty() { Ok(()) } else { update.write(at, new) };
        let progress = update.pause();
        match written {
            Ok(()) => {
                let received = progress.received();
                self.transfer = Some(Transfer { progress, ..transfer });
                ack(received)
            }
            // Nothing was written: the update goes on.
            Err(error @ (StoreError::OutOfOrder { .. } | StoreError::Overrun { .. })) => {
                self.transfer = Some(Transfer { progress, ..transfer });
                refuse_store(error)
            }
            // A flash error: the update starts over.
            Err(error) => refuse_store(error),
        }
    }

    /// Checks the payload against the announced CRC-32, then lets the store verify and switch.
    fn commit(&mut self) -> Outcome {
        let Some(transfer) = self.transfer.take() else { return no_transfer() };
        let (len, received) = (transfer.progress.len(), transfer.progress.received());
        if received != len {
            let message = format_args!("commit after {received} of {len} bytes");
            self.transfer = Some(transfer);
            return refuse(Reason::Incomplete, 0, message);
        }
        let (got, announced) = (transfer.progress.crc(), transfer.crc);
        if got != announced {
            let message =
                format_args!("the bytes have CRC-32 {got:#010x}, Begin said {announced:#010x}");
            return refuse(Reason::CrcMismatch, 0, message);
        }
        match Update::resume(&mut *self.store, transfer.progress).commit(self.scratch) {
            Ok(active) => {
                let (slot, sequence, len) = (active.slot, active.sequence, active.len as u32);
                Outcome::Reply(Response::Committed { slot, sequence, len }, Some(active))
            }
            Err(error) => refuse_store(error),
        }
    }
}

fn ack(received: usize) -> Outcome {
    Outcome::Reply(Response::Ack { received: received as u32 }, None)
}

fn no_transfer() -> Outcome {
    refuse(Reason::NoTransfer, 0, format_args!("no update in progress: Begin first"))
}
