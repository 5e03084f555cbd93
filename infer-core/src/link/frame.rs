//! Frames on a byte stream: COBS (zero bytes only as delimiters) around a body and its CRC-32.

use cobs::{DecodeResult, DecoderState};

use crate::blob::crc32;

/// Decoded bytes of the longest frame: a Data request with [`MAX_CHUNK`](super::MAX_CHUNK)
/// bytes, with kind, sequence number, offset and CRC-32.
pub const MAX_FRAME: usize = 3 + 4 + super::MAX_CHUNK + 4;
/// Bytes on the wire of the longest frame: COBS adds one byte per 254 and one more, then the
/// delimiter.
pub const MAX_WIRE: usize = MAX_FRAME + MAX_FRAME.div_ceil(254) + 2;
/// Bytes of the CRC-32 at the end of a frame.
const CRC_LEN: usize = 4;

/// Why bytes up to a delimiter were not a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// Not valid COBS: a zero where a code byte promised data.
    Encoding,
    /// Longer than [`MAX_FRAME`].
    TooLong,
    /// Shorter than a kind, a sequence number and a CRC-32.
    TooShort,
    /// The CRC-32 does not match.
    Crc,
}

/// Splits a byte stream into frames, byte by byte, in a buffer of [`MAX_FRAME`] bytes.
/// Garbage costs at most the frame it ends in: decoding starts over after every zero byte.
#[derive(Debug)]
pub struct Frames {
    buf: [u8; MAX_FRAME],
    len: usize,
    state: DecoderState,
    error: Option<FrameError>,
    /// The CRC-32 of the last good frame.
    crc: u32,
}

impl Default for Frames {
    fn default() -> Self {
        Self::new()
    }
}

impl Frames {
    /// A decoder waiting for the start of a frame.
    pub const fn new() -> Self {
        Self { buf: [0; MAX_FRAME], len: 0, state: DecoderState::Idle, error: None, crc: 0 }
    }

    /// Takes the next byte; at a delimiter, the frame it ends (without its CRC-32) or why it
    /// is not one. Empty frames (two delimiters in a row) yield nothing.
    pub fn push(&mut self, byte: u8) -> Option<Result<&[u8], FrameError>> {
        match self.state.feed(byte) {
            Ok(DecodeResult::NoData) if byte == 0 => self.end(),
            Ok(DecodeResult::NoData) => None,
            Ok(DecodeResult::DataContinue(data)) => {
                self.keep(data);
                None
            }
            Ok(DecodeResult::DataComplete) => self.end(),
            // Only a delimiter where a code byte promised data is an error.
            Err(_) => {
                self.error.get_or_insert(FrameError::Encoding);
                self.end()
            }
        }
    }

    fn keep(&mut self, data: u8) {
        match self.buf.get_mut(self.len) {
            Some(cell) => *cell = data,
            None => _ = self.error.get_or_insert(FrameError::TooLong),
        }
        self.len = self.len.saturating_add(1);
    }

    /// The frame that a delimiter ended; resets for the next one.
    fn end(&mut self) -> Option<Result<&[u8], FrameError>> {
        let (len, error) = (core::mem::take(&mut self.len), self.error.take());
        self.state = DecoderState::Idle;
        if len == 0 && error.is_none() {
            return None;
        }
        match error.map_or_else(|| self.check(len), Err) {
            Ok((body_len, crc)) => {
                self.crc = crc;
                Some(Ok(self.buf.get(..body_len).unwrap_or_default()))
            }
            Err(error) => Some(Err(error)),
        }
    }

    /// The length of the body of the `len` bytes received and their CRC-32, if it matches.
    fn check(&self, len: usize) -> Result<(usize, u32), FrameError> {
        let frame = self.buf.get(..len).ok_or(FrameError::TooLong)?;
        let body_len = len.checked_sub(CRC_LEN).filter(|&n| n >= 3).ok_or(FrameError::TooShort)?;
        let (body, crc) = frame.split_at(body_len);
        let crc = u32::from_le_bytes(crc.try_into().map_err(|_| FrameError::TooShort)?);
        if crc32(body) == crc { Ok((body_len, crc)) } else { Err(FrameError::Crc) }
    }

    /// The CRC-32 of the last frame [`Frames::push`] returned: a device tells a repeated frame
    /// by it without a second pass over the bytes.
    pub(crate) fn crc(&self) -> u32 {
        self.crc
    }
}

/// Builds a frame's body in place, then encodes it: the body's bytes, its CRC-32, COBS, and
/// the delimiter.
pub(crate) struct Builder {
    body: [u8; MAX_FRAME],
    len: usize,
}

impl Builder {
    /// A body starting with `kind` and `sequence`.
    pub fn new(kind: u8, sequence: u16) -> Self {
        let mut builder = Self { body: [0; MAX_FRAME], len: 0 };
        builder.put(&[kind]);
        builder.put(&sequence.to_le_bytes());
        builder
    }

    /// Appends bytes; what does not fit, with room left for the CRC-32, is cut off.
    pub fn put(&mut self, bytes: &[u8]) -> &mut Self {
        let room = self.body.get_mut(self.len..MAX_FRAME - CRC_LEN).unwrap_or_default();
        let n = room.len().min(bytes.len());
        room.get_mut(..n).unwrap_or_default().copy_from_slice(bytes.get(..n).unwrap_or_default());
        self.len += n;
        self
    }

    /// Appends a `u32`, little-endian.
    pub fn word(&mut self, word: u32) -> &mut Self {
        self.put(&word.to_le_bytes())
    }

    /// Bytes left for the body.
    pub fn room(&self) -> usize {
        MAX_FRAME - CRC_LEN - self.len
    }

    /// The frame on the wire, in `out`.
    pub fn encode<'o>(&mut self, out: &'o mut [u8]) -> &'o [u8] {
        let crc = crc32(self.body.get(..self.len).unwrap_or_default());
        self.append_crc(crc);
        let body = self.body.get(..self.len).unwrap_or_default();
        let n = cobs::try_encode(body, out).unwrap_or(0);
        let Some(delimiter) = out.get_mut(n) else { return &[] };
        *delimiter = 0;
        out.get(..=n).unwrap_or_default()
    }

    /// Appends the CRC-32 into the room kept for it.
    fn append_crc(&mut self, crc: u32) {
        let end = self.len + CRC_LEN;
        if let Some(cell) = self.body.get_mut(self.len..end) {
            cell.copy_from_slice(&crc.to_le_bytes());
            self.len = end;
        }
    }
}
