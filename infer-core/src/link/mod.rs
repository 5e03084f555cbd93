//! The update link (feature `link`): a small framed protocol that carries a blob, or a signed
//! envelope, from a host to a device's [`store`](crate::store) over any byte stream (a UART,
//! BLE or TCP bytes), with acknowledgements, resends, resume and a final commit.
//!
//! The device side is [`Device`]: it takes bytes one at a time, answers each complete frame,
//! and never allocates or panics. The host side (`trainer push`) builds requests with
//! [`encode_request`] and reads replies with [`Frames`] and [`parse_response`].
//!
//! # Frames
//!
//! On the wire a frame is its bytes COBS-encoded (so they hold no zero byte), then one zero
//! byte. A receiver starts over at every zero byte: garbage costs at most the frame it lands
//! in. Decoded, a frame is:
//!
//! | offset  | size | field                                                  |
//! |---------|------|--------------------------------------------------------|
//! | 0       | 1    | kind                                                   |
//! | 1       | 2    | sequence number, `u16` little-endian                   |
//! | 3       | `n`  | body, per kind (below); integers `u32` little-endian   |
//! | 3 + `n` | 4    | CRC-32 (the blob's, ISO-HDLC) of bytes `0 .. 3 + n`     |
//!
//! | kind   | direction | body                                                         |
//! |--------|-----------|--------------------------------------------------------------|
//! | `0x01` | request   | Hello: none                                                  |
//! | `0x02` | request   | Begin: payload length, payload CRC-32                        |
//! | `0x03` | request   | Data: offset, 1 to [`MAX_CHUNK`] payload bytes               |
//! | `0x04` | request   | Commit: none                                                 |
//! | `0x81` | reply     | Status: capacity, flags (`u8`, bit 0: signatures required), active sequence (0: compiled-in model), active length, transfer length, transfer CRC-32, bytes received |
//! | `0x82` | reply     | Ack: bytes received so far                                   |
//! | `0x83` | reply     | Committed: slot (`u8`, 0 = A), sequence, length              |
//! | `0xC0` | reply     | Refused: reason (`u8`, [`Reason::code`]), offset to continue from, message (UTF-8, the rest) |
//!
//! # Exchanges
//!
//! The host sends one request and waits for the reply with its sequence number; after a
//! timeout or a [`Reason::BadFrame`] (sequence number [`UNKNOWN_SEQUENCE`]) it sends the same
//! frame again. The device answers a frame identical to the last one with the same reply
//! without acting again, so a lost reply costs one resend and a resent Commit commits once.
//! A host picks a new first sequence number per session (e.g. at random).
//!
//! - Begin with the length and CRC-32 of the update in progress resumes it: the Ack says
//!   where to continue. Any other Begin erases the inactive slot and acks 0.
//! - Data at the next offset is written; bytes already received are acknowledged and not
//!   written again; a gap is refused with [`Reason::OutOfOrder`] and the offset to continue
//!   from.
//! - Commit checks that every byte arrived with the announced CRC-32, then the store reads
//!   the payload back, verifies it completely (as a blob; with
//!   [`Store::require_signature`](crate::store::Store::require_signature) its signature and
//!   security counter too) and makes it active.
//!
//! A refusal changes nothing the device runs. After a device reset the transfer starts over:
//! its progress lives in RAM, and the inactive slot is erased again at the next Begin.

mod device;
mod frame;
mod message;

pub use device::{Device, Reply, UNKNOWN_SEQUENCE};
pub use frame::{FrameError, Frames, MAX_FRAME, MAX_WIRE};
pub use message::{
    Reason, Request, Response, Status, encode_request, encode_response, parse_request,
    parse_response,
};

/// Payload bytes per Data request at most: large enough that the 11 bytes around them are
/// little, small enough for a device's stack and a UART's latency.
pub const MAX_CHUNK: usize = 512;
