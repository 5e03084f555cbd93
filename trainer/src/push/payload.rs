//! The file to push, checked before anything is sent: a device takes blobs and signed
//! envelopes only, so anything else is the user's mistake, found without a device. Whether the
//! device wants a signature, and which counter, is for the device to say.

use infer_core::blob::{Blob, crc32};
use infer_core::signed::{self, Envelope};

/// A blob or a signed envelope, as a device receives it.
#[derive(Debug, Clone)]
pub struct Payload {
    bytes: Vec<u8>,
    size: u32,
    crc: u32,
    counter: Option<u32>,
}

impl Payload {
    /// `bytes` if they are a valid blob, or a signed envelope (signature not checked) around
    /// one, with nothing after either.
    pub fn new(bytes: Vec<u8>) -> Result<Self, infer_core::Error> {
        let counter = if bytes.starts_with(&signed::MAGIC) {
            let (envelope, rest) = Envelope::parse_prefix(&bytes)?;
            if !rest.is_empty() {
                return Err(infer_core::Error::TrailingBytes);
            }
            Blob::parse(envelope.unverified_blob)?;
            Some(envelope.counter)
        } else {
            Blob::parse(&bytes)?;
            None
        };
        // A blob's length field is a u32, and its arrays are far smaller.
        let size = u32::try_from(bytes.len()).map_err(|_| infer_core::Error::Malformed)?;
        Ok(Self { crc: crc32(&bytes), size, counter, bytes })
    }

    /// The bytes to send.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Their number, never 0: a blob has a header.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Their CRC-32, which the device checks the whole transfer against.
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// The security counter of a signed envelope; `None` for a plain blob.
    pub fn counter(&self) -> Option<u32> {
        self.counter
    }
}
