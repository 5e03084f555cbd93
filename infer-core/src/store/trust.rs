//! What a slot may hold: any valid blob, or (feature `signed`) only envelopes signed by one key.

use core::ops::Range;

use crate::Error;
use crate::blob::Blob;

/// The store's rule for payloads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trust {
    /// Any valid blob: corruption is caught, forgery is not.
    Any,
    /// Envelopes signed by `public_key` with a counter of at least `minimum_counter`.
    #[cfg(feature = "signed")]
    Signed { public_key: [u8; crate::signed::PUBLIC_KEY_LEN], minimum_counter: u32 },
}

/// A payload that passed: where its blob is in it, and its security counter.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub blob: Range<usize>,
    pub counter: u32,
}

impl Trust {
    /// Checks `payload` completely; a signed one must also have a counter of at least
    /// `active_counter`.
    pub fn check(&self, payload: &[u8], active_counter: u32) -> Result<Checked, Error> {
        match *self {
            Trust::Any => {
                // A plain blob has no counter to compare.
                let _ = active_counter;
                Blob::parse(payload).map(|_| Checked { blob: 0..payload.len(), counter: 0 })
            }
            #[cfg(feature = "signed")]
            Trust::Signed { public_key, minimum_counter } => {
                let minimum = minimum_counter.max(active_counter);
                let verified = crate::signed::open(payload, &public_key, minimum)?;
                Blob::parse(verified.blob)?;
                let start = crate::signed::HEADER_LEN;
                Ok(Checked { blob: start..start + verified.blob.len(), counter: verified.counter })
            }
        }
    }
}
