//! An update in progress: the payload programmed as it arrives, then verified and committed.

use embedded_storage::nor_flash::NorFlash;

use super::layout::{HEADER_LEN, Header, MAX_UNIT, Slot};
use super::{Active, Store, StoreError};
use crate::blob::{crc32, crc32_update};

/// Writes one payload into the inactive slot ([`Store::begin_update`]); the active model is
/// untouched until [`Update::commit`] succeeds. Dropped before that, the slot stays invalid
/// and the next update erases it again. After a flash error, start over.
#[derive(Debug)]
pub struct Update<'s, F> {
    store: &'s mut Store<F>,
    progress: Progress,
}

/// Where an update stands, apart from the store it writes: the link keeps it between frames.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
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

impl Progress {
    /// Bytes announced.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes received so far.
    pub fn received(&self) -> usize {
        self.received
    }

    /// The CRC-32 of the bytes received so far.
    pub fn crc(&self) -> u32 {
        !self.crc
    }
}

impl<'s, F: NorFlash> Update<'s, F> {
    pub(super) fn new(store: &'s mut Store<F>, slot: Slot, sequence: u32, len: usize) -> Self {
        let (stage, crc) = ([0xFF; MAX_UNIT], !0);
        let progress =
            Progress { slot, sequence, len, received: 0, crc, stage, staged: 0, programmed: 0 };
        Self { store, progress }
    }

    /// Continues an update that [`Update::pause`] set aside; the store must not have started
    /// or committed another one since.
    pub(crate) fn resume(store: &'s mut Store<F>, progress: Progress) -> Self {
        Self { store, progress }
    }

    /// Sets the update aside, to [`Update::resume`] it later.
    pub(crate) fn pause(self) -> Progress {
        self.progress
    }

    /// Bytes received so far: the offset the next [`Update::write`] continues at.
    pub fn received(&self) -> usize {
        self.progress.received
    }

    /// Takes the payload bytes at `offset`, which must be [`Update::received`]; chunks of any
    /// size, programmed whenever a staging buffer of [`MAX_UNIT`] bytes fills.
    pub fn write(&mut self, offset: usize, bytes: &[u8]) -> Result<(), StoreError<F::Error>> {
        let p = &mut self.progress;
        if offset != p.received {
            return Err(StoreError::OutOfOrder { expected: p.received });
        }
        if bytes.len() > p.len - p.received {
            return Err(StoreError::Overrun { len: p.len });
        }
        p.crc = crc32_update(p.crc, bytes);
        p.received += bytes.len();
        let mut rest = bytes;
        while !rest.is_empty() {
            let p = &mut self.progress;
            let free = p.stage.get_mut(p.staged..).unwrap_or_default();
            let take = free.len().min(rest.len());
            let (now, later) = rest.split_at(take);
            free.get_mut(..take).unwrap_or_default().copy_from_slice(now);
            (p.staged, rest) = (p.staged + take, later);
            if p.staged == MAX_UNIT {
                self.program(MAX_UNIT)?;
            }
        }
        Ok(())
    }

    /// Programs the first `n` staged bytes after those programmed so far.
    fn program(&mut self, n: usize) -> Result<(), StoreError<F::Error>> {
        let (geometry, p) = (&self.store.geometry, &mut self.progress);
        let at = geometry.slot_start(p.slot) + geometry.data_offset + p.programmed;
        let bytes = p.stage.get(..n).unwrap_or_default();
        self.store.flash.write(at, bytes).map_err(StoreError::Flash)?;
        p.programmed += n as u32;
        p.stage = [0xFF; MAX_UNIT];
        p.staged = 0;
        Ok(())
    }

    /// Programs the last bytes, reads the whole payload back into `buf` (at least as long as
    /// the payload) and checks it like a boot does (and, signed, that its counter is not below
    /// the active slot's), then programs the slot's header: from then on the slot is the
    /// active one, and the next update writes the other.
    pub fn commit(mut self, buf: &mut [u8]) -> Result<Active, StoreError<F::Error>> {
        let (received, len) = (self.progress.received, self.progress.len);
        if received != len {
            return Err(StoreError::Incomplete { received, len });
        }
        let payload = buf.get_mut(..len).ok_or(StoreError::BufferTooSmall { needed: len })?;
        if self.progress.staged > 0 {
            // Padded with erased bytes, which programming leaves as they are.
            self.program(self.progress.staged.next_multiple_of(F::WRITE_SIZE))?;
        }
        let (slot, sequence, crc) =
            (self.progress.slot, self.progress.sequence, !self.progress.crc);
        self.store.read_payload(slot, payload)?;
        if crc32(payload) != crc {
            return Err(StoreError::ReadBack);
        }
        let checked = self.store.check_update(payload).map_err(StoreError::Payload)?;
        self.write_header(&Header { sequence, len: len as u32, payload_crc: crc })?;
        let active = Active { slot, sequence, len, counter: checked.counter };
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
        let at = geometry.slot_start(self.progress.slot);
        self.store.flash.write(at, bytes).map_err(StoreError::Flash)
    }
}
