//! The requests and replies inside frames: their kinds, fields and refusal reasons.

use core::fmt;

use super::frame::Builder;
use crate::store::Slot;

const HELLO: u8 = 0x01;
const BEGIN: u8 = 0x02;
const DATA: u8 = 0x03;
const COMMIT: u8 = 0x04;
const STATUS: u8 = 0x81;
const ACK: u8 = 0x82;
const COMMITTED: u8 = 0x83;
const REFUSED: u8 = 0xC0;

/// What the host asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// The device's [`Status`].
    Hello,
    /// Start an update of `len` bytes whose CRC-32 is `crc`, or resume the one in progress
    /// with the same two numbers.
    Begin {
        /// Payload bytes.
        len: u32,
        /// CRC-32 of the whole payload.
        crc: u32,
    },
    /// Payload bytes at `offset`: 1 to [`MAX_CHUNK`](super::MAX_CHUNK) of them.
    Data {
        /// Offset of `bytes[0]` in the payload.
        offset: u32,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// Verify the whole payload and switch to it.
    Commit,
}

/// The device's state, the answer to [`Request::Hello`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The longest payload a slot holds.
    pub capacity: u32,
    /// Whether the device takes signed envelopes only.
    pub signed: bool,
    /// The active slot's sequence number; 0 when the device runs its compiled-in model.
    pub active_sequence: u32,
    /// The active slot's payload bytes.
    pub active_len: u32,
    /// The update in progress: bytes announced (0: none), their CRC-32, bytes received.
    pub transfer_len: u32,
    /// See `transfer_len`.
    pub transfer_crc: u32,
    /// See `transfer_len`.
    pub transfer_received: u32,
}

/// What the device answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    /// The answer to [`Request::Hello`].
    Status(Status),
    /// Bytes of the payload received so far: where the next [`Request::Data`] starts.
    Ack {
        /// Bytes received.
        received: u32,
    },
    /// The update is verified and active.
    Committed {
        /// The slot it is in.
        slot: Slot,
        /// Its sequence number.
        sequence: u32,
        /// Its payload bytes.
        len: u32,
    },
    /// The request was not carried out; the active model is unchanged.
    Refused {
        /// Why, for programs.
        reason: Reason,
        /// For [`Reason::OutOfOrder`], the offset to continue from; else 0.
        expected: u32,
        /// Why, in the device's words, for people.
        message: &'a str,
    },
}

/// Why a device refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Reason {
    /// The bytes up to a delimiter were not a frame (bad CRC-32, bad COBS, too short or too
    /// long): send it again.
    BadFrame,
    /// A request kind this device does not know.
    UnknownRequest,
    /// A body too short or too long for its kind.
    BadLength,
    /// Data or Commit without an update in progress.
    NoTransfer,
    /// The payload is longer than a slot.
    TooLarge,
    /// Data at another offset than the next expected.
    OutOfOrder,
    /// Data past the announced length.
    Overrun,
    /// Commit before every byte arrived.
    Incomplete,
    /// The payload's CRC-32 differs from the one announced.
    CrcMismatch,
    /// The payload is not a valid blob.
    Invalid,
    /// A plain blob for a device that takes signed envelopes only.
    Unsigned,
    /// The envelope's signature is not by the device's key.
    BadSignature,
    /// The envelope's security counter is below the device's.
    Rollback,
    /// The flash failed, or read back other bytes than written.
    Flash,
    /// The device has not decided which slot is active.
    NotBooted,
    /// A code this build does not know.
    Other(u8),
}

const REASONS: [Reason; 15] = [
    Reason::BadFrame,
    Reason::UnknownRequest,
    Reason::BadLength,
    Reason::NoTransfer,
    Reason::TooLarge,
    Reason::OutOfOrder,
    Reason::Overrun,
    Reason::Incomplete,
    Reason::CrcMismatch,
    Reason::Invalid,
    Reason::Unsigned,
    Reason::BadSignature,
    Reason::Rollback,
    Reason::Flash,
    Reason::NotBooted,
];

impl Reason {
    /// Its code on the wire: 1 for the first.
    pub fn code(self) -> u8 {
        match self {
            Reason::Other(code) => code,
            known => REASONS.iter().position(|&r| r == known).map_or(0, |i| i as u8 + 1),
        }
    }

    /// The reason a code stands for.
    pub fn from_code(code: u8) -> Self {
        let known = usize::from(code).checked_sub(1).and_then(|i| REASONS.get(i));
        known.copied().unwrap_or(Reason::Other(code))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Reason::BadFrame => "bad frame",
            Reason::UnknownRequest => "unknown request",
            Reason::BadLength => "wrong length for the request",
            Reason::NoTransfer => "no update in progress",
            Reason::TooLarge => "payload larger than a slot",
            Reason::OutOfOrder => "data out of order",
            Reason::Overrun => "data past the announced length",
            Reason::Incomplete => "commit before all data",
            Reason::CrcMismatch => "payload CRC-32 differs from the announced one",
            Reason::Invalid => "not a valid blob",
            Reason::Unsigned => "unsigned blob, the device takes signed envelopes only",
            Reason::BadSignature => "bad signature",
            Reason::Rollback => "security counter below the device's",
            Reason::Flash => "flash failure",
            Reason::NotBooted => "device not booted",
            Reason::Other(code) => return write!(f, "reason {code}"),
        };
        f.write_str(text)
    }
}

/// The frame for a request, on the wire, in `out`: [`MAX_WIRE`](super::MAX_WIRE) bytes hold any;
/// empty if `out` is too short.
pub fn encode_request<'o>(sequence: u16, request: &Request<'_>, out: &'o mut [u8]) -> &'o [u8] {
    let mut frame = match *request {
        Request::Hello => Builder::new(HELLO, sequence),
        Request::Begin { len, crc } => {
            let mut frame = Builder::new(BEGIN, sequence);
            frame.word(len).word(crc);
            frame
        }
        Request::Data { offset, bytes } => {
            let mut frame = Builder::new(DATA, sequence);
            frame.word(offset).put(bytes);
            frame
        }
        Request::Commit => Builder::new(COMMIT, sequence),
    };
    frame.encode(out)
}

/// The frame for a reply, on the wire, in `out` (as for [`encode_request`]); a refusal's message
/// is cut to fit a frame.
pub fn encode_response<'o>(sequence: u16, response: &Response<'_>, out: &'o mut [u8]) -> &'o [u8] {
    let mut frame = match *response {
        Response::Status(s) => {
            let mut frame = Builder::new(STATUS, sequence);
            frame.word(s.capacity).put(&[u8::from(s.signed)]).word(s.active_sequence);
            frame.word(s.active_len).word(s.transfer_len).word(s.transfer_crc);
            frame.word(s.transfer_received);
            frame
        }
        Response::Ack { received } => {
            let mut frame = Builder::new(ACK, sequence);
            frame.word(received);
            frame
        }
        Response::Committed { slot, sequence: slot_sequence, len } => {
            let mut frame = Builder::new(COMMITTED, sequence);
            frame.put(&[u8::from(slot == Slot::B)]).word(slot_sequence).word(len);
            frame
        }
        Response::Refused { reason, expected, message } => {
            let mut frame = Builder::new(REFUSED, sequence);
            frame.put(&[reason.code()]).word(expected);
            frame.put(utf8_prefix(message, frame.room()).as_bytes());
            frame
        }
    };
    frame.encode(out)
}

/// The longest prefix of `text` of at most `max` bytes that ends at a character boundary.
fn utf8_prefix(text: &str, max: usize) -> &str {
    let end = (0..=max.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    text.get(..end).unwrap_or_default()
}

/// Reads fields from a frame's body, front to back.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn byte(&mut self) -> Result<u8, Reason> {
        let (&first, rest) = self.0.split_first().ok_or(Reason::BadLength)?;
        self.0 = rest;
        Ok(first)
    }

    fn word(&mut self) -> Result<u32, Reason> {
        let (word, rest) = self.0.split_first_chunk::<4>().ok_or(Reason::BadLength)?;
        self.0 = rest;
        Ok(u32::from_le_bytes(*word))
    }

    /// The kind and sequence number at the start of a frame.
    fn head(&mut self) -> Result<(u8, u16), Reason> {
        let kind = self.byte()?;
        let sequence = u16::from_le_bytes([self.byte()?, self.byte()?]);
        Ok((kind, sequence))
    }

    /// Succeeds if every byte was read.
    fn end<T>(self, value: T) -> Result<T, Reason> {
        if self.0.is_empty() { Ok(value) } else { Err(Reason::BadLength) }
    }
}

/// A request from a frame [`Frames`](super::Frames) returned, with its sequence number.
pub fn parse_request(frame: &[u8]) -> Result<(u16, Request<'_>), Reason> {
    let mut fields = Fields(frame);
    let (kind, sequence) = fields.head()?;
    let request = match kind {
        HELLO => fields.end(Request::Hello)?,
        BEGIN => {
            let (len, crc) = (fields.word()?, fields.word()?);
            fields.end(Request::Begin { len, crc })?
        }
        DATA => {
            let offset = fields.word()?;
            let bytes = fields.0;
            if bytes.is_empty() || bytes.len() > super::MAX_CHUNK {
                return Err(Reason::BadLength);
            }
            Request::Data { offset, bytes }
        }
        COMMIT => fields.end(Request::Commit)?,
        _ => return Err(Reason::UnknownRequest),
    };
    Ok((sequence, request))
}

/// A reply from a frame [`Frames`](super::Frames) returned, with its sequence number.
pub fn parse_response(frame: &[u8]) -> Result<(u16, Response<'_>), Reason> {
    let mut fields = Fields(frame);
    let (kind, sequence) = fields.head()?;
    let response = match kind {
        STATUS => {
            let capacity = fields.word()?;
            let signed = fields.byte()? != 0;
            let (active_sequence, active_len) = (fields.word()?, fields.word()?);
            let (transfer_len, transfer_crc) = (fields.word()?, fields.word()?);
            let transfer_received = fields.word()?;
            let status = Status {
                capacity,
                signed,
                active_sequence,
                active_len,
                transfer_len,
                transfer_crc,
                transfer_received,
            };
            fields.end(Response::Status(status))?
        }
        ACK => {
            let received = fields.word()?;
            fields.end(Response::Ack { received })?
        }
        COMMITTED => {
            let slot = if fields.byte()? == 0 { Slot::A } else { Slot::B };
            let (sequence, len) = (fields.word()?, fields.word()?);
            fields.end(Response::Committed { slot, sequence, len })?
        }
        REFUSED => {
            let reason = Reason::from_code(fields.byte()?);
            let expected = fields.word()?;
            let message = core::str::from_utf8(fields.0).map_err(|_| Reason::BadLength)?;
            Response::Refused { reason, expected, message }
        }
        _ => return Err(Reason::UnknownRequest),
    };
    Ok((sequence, response))
}
