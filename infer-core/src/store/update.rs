//! An update in progress: the payload programmed as it arrives, then verified and committed.

use embedded_storage::nor_flash::NorFlash;

use super::layout::{HEADER_LEN, Header, MAX_UNIT, Slot};
use super::{Active, Store, StoreError, check_payload};
use crate::blob::{crc32, crc32_update};

/// Writes one payload into the inactive slot ([`Store::begin_update`]); the active model is
/// untouched until [`Update::commit`] succeeds. Dropped before that, the slot stays invalid
/// and the next update erases it again. After a flash error, start over.
#[derive(Debug)]
pub struct Update<'s, F> {
    store: &'s mut Store<F>,
    slot: Slot,
    sequence: u32,
    len: usize,
    received: usize,
    /// CRC-32 register over the bytes received, to compare with what the flash reads back.
    crc: u32,
    /// Bytes not yet programmed: the flash takes whole `WRITE_SIZE` units only.
    stage: [u8; MAX_UNIT],
    staged: usize,
    /// Payload bytes programmed so far.
    programmed: u32,
}

impl<'s, F: NorFlash> Update<'s, F> {
    pub(super) fn new(store: &'s mut Store<F>, slot: Slot, sequence: u32, len: usize) -> Self {
        let stage = [0xFF; MAX_UNIT];
        Self { store, slot, sequence, len, received: 0, crc: !0, stage, staged: 0, programmed: 0 }
    }

    /// Bytes received so far: the offset the next [`Update::write`] continues at.
    pub fn received(&self) -> usize {
        self.received
    }

    /// Takes the payload bytes at `offset`, which must be [`Update::received`]; chunks of any
    /// size, programmed whenever a staging buffer of [`MAX_UNIT`] bytes fills.
    pub fn write(&mut self, offset: usize, bytes: &[u8]) -> Result<(), StoreError<F::Error>> {
        if offset != self.received {
            return Err(StoreError::OutOfOrder { expected: self.received });
        }
        if bytes.len() > self.len - self.received {
            return Err(StoreError::Overrun { len: self.len });
        }
        self.crc = crc32_update(self.crc, bytes);
        self.received += bytes.len();
        let mut rest = bytes;
        while !rest.is_empty() {
            let free = self.stage.get_mut(self.staged..).unwrap_or_default();
            let take = free.len().min(rest.len());
            let (now, later) = rest.split_at(take);
            free.get_mut(..take).unwrap_or_default().copy_from_slice(now);
            (self.staged, rest) = (self.staged + take, later);
            if self.staged == MAX_UNIT {
                self.program(MAX_UNIT)?;
            }
        }
        Ok(())
    }

    /// Programs the first `n` staged bytes after those programmed so far.
    fn program(&mut self, n: usize) -> Result<(), StoreError<F::Error>> {
        let geometry = &self.store.geometry;
        let at = geometry.slot_start(self.slot) + geometry.data_offset + self.programmed;
        let bytes = self.stage.get(..n).unwrap_or_default();
        self.store.flash.write(at, bytes).map_err(StoreError::Flash)?;
        self.programmed += n as u32;
        self.stage = [0xFF; MAX_UNIT];
        self.staged = 0;
        Ok(())
    }

    /// Programs the last bytes, reads the whole payload back into `buf` (at least as long as
    /// the payload) and checks it like a boot does, then programs the slot's header: from then
    /// on the slot is the active one, and the next update writes the other.
    pub fn commit(mut self, buf: &mut [u8]) -> Result<Active, StoreError<F::Error>> {
        let (received, len) = (self.received, self.len);
        if received != len {
            return Err(StoreError::Incomplete { received, len });
        }
        let payload = buf.get_mut(..len).ok_or(StoreError::BufferTooSmall { needed: len })?;
        if self.staged > 0 {
            // Padded with erased bytes, which programming leaves as they are.
            self.program(self.staged.next_multiple_of(F::WRITE_SIZE))?;
        }
        self.store.read_payload(self.slot, payload)?;
        if crc32(payload) != !self.crc {
            return Err(StoreError::ReadBack);
        }
        check_payload(payload).map_err(StoreError::Payload)?;
        let header = Header { sequence: self.sequence, len: len as u32, payload_crc: !self.crc };
        self.write_header(&header)?;
        let active = Active { slot: self.slot, sequence: self.sequence, len };
        self.store.active = Some(Some(active));
        Ok(active)
    }

    /// The header in one program operation, padded with erased bytes to the payload's start.
    fn write_header(&mut self, header: &Header) -> Result<(), StoreError<F::Error>> {
        let mut area = [0xFF; MAX_UNIT];
        let (head, _) = area.split_at_mut(HEADER_LEN);
        head.copy_from_slice(&header.encode());
        let geometry = &self.store.geometry;
        let bytes = area.get(..geometry.data_offset as usize).unwrap_or_default();
        let at = geometry.slot_start(self.slot);
        self.store.flash.write(at, bytes).map_err(StoreError::Flash)
    }
}
