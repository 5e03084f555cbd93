//! A model store on NOR flash (feature `store`): two slots, updates that survive a power cut at
//! any moment, and a boot that picks the newest valid model.
//!
//! The store works on any flash with `embedded-storage`'s [`NorFlash`] traits: erase by sector
//! (`ERASE_SIZE`, to all ones), program (`WRITE_SIZE` units, each once per erase, clearing bits
//! only), read (`READ_SIZE` units); both units powers of two, at most [`MAX_UNIT`].
//!
//! # Layout
//!
//! A [`Layout`] places two slots of the same size, each a whole number of erase sectors, one
//! after the other. A slot holds:
//!
//! | offset | size | field                                                               |
//! |--------|------|---------------------------------------------------------------------|
//! | 0      | 4    | magic `ICSL` ([`SLOT_MAGIC`])                                       |
//! | 4      | 4    | slot layout version, [`SLOT_VERSION`], `u32` little-endian          |
//! | 8      | 4    | sequence number, `u32` little-endian                                |
//! | 12     | 4    | payload length `n`, `u32` little-endian                             |
//! | 16     | 4    | CRC-32 of the payload                                               |
//! | 20     | 4    | CRC-32 of bytes 0..20                                               |
//! | 24     | `d - 24` | erased (`FF`)                                                   |
//! | `d`    | `n`  | the payload: a [blob](crate::blob)                                  |
//!
//! `d` is 32, or the flash's `WRITE_SIZE` if that is larger: the payload starts at a multiple of
//! 16 bytes (the blob's array alignment) and of `WRITE_SIZE`. CRCs are CRC-32/ISO-HDLC, the
//! blob's. A slot is *valid* when its header decodes, its payload has the recorded length and
//! CRC-32, and [`Blob::parse`](crate::blob::Blob::parse) accepts the payload; with
//! [`Store::require_signature`] (feature `signed`) the payload is a
//! [signed envelope](crate::signed) whose signature and security counter are checked before its
//! blob, and an update's counter must not be below the active slot's.
//!
//! # Updates and power cuts
//!
//! An update writes the slot that is not active: it erases the sectors it needs, programs the
//! payload as it arrives, reads it all back and checks it like a boot does, and only then
//! programs the header, in one write, with the active slot's sequence number plus one. Until
//! that write completes the slot has no valid header, so a cut at any moment leaves the old
//! model active; after it, the new one. A header cut half-way fails its CRC-32. Updates
//! alternate between the slots, which spreads the erases.
//!
//! [`Store::boot`] takes the valid slot with the newer sequence number (compared with
//! wrap-around), or the other one if that one is not valid; with neither, the device runs the
//! model compiled into its firmware.
//!
//! Not covered: flash that reads a bit differently from one read to the next after a cut
//! (a marginal cell); the payload check at boot would then decide for the read it made.
//!
//! ```
//! # use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
//! # struct Ram([u8; 8192]);
//! # impl ErrorType for Ram { type Error = NorFlashErrorKind; }
//! # impl ReadNorFlash for Ram {
//! #     const READ_SIZE: usize = 1;
//! #     fn read(&mut self, at: u32, out: &mut [u8]) -> Result<(), Self::Error> {
//! #         out.copy_from_slice(&self.0[at as usize..][..out.len()]);
//! #         Ok(())
//! #     }
//! #     fn capacity(&self) -> usize { self.0.len() }
//! # }
//! # impl NorFlash for Ram {
//! #     const WRITE_SIZE: usize = 4;
//! #     const ERASE_SIZE: usize = 1024;
//! #     fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
//! #         self.0[from as usize..to as usize].fill(0xFF);
//! #         Ok(())
//! #     }
//! #     fn write(&mut self, at: u32, data: &[u8]) -> Result<(), Self::Error> {
//! #         let cells = &mut self.0[at as usize..][..data.len()];
//! #         cells.iter_mut().zip(data).for_each(|(cell, byte)| *cell &= byte);
//! #         Ok(())
//! #     }
//! # }
//! # let blob = infer_core::blob::encode(&infer_core::blob::Params::Int8 {
//! #     inputs: 784, classes: 2, weights: &[1; 1568], scales: &[0.01; 2], bias: &[0.0; 2],
//! # }).unwrap();
//! use infer_core::Model;
//! use infer_core::store::{Layout, Slot, Store};
//!
//! let flash = Ram([0xFF; 8192]);
//! let mut store = Store::new(flash, Layout { start: 0, slot_size: 4096 })?;
//! let mut buf = [0; 4096]; // room for the longest blob the device takes
//! assert!(store.boot(&mut buf)?.is_none()); // nothing stored: run the compiled-in model
//!
//! let mut update = store.begin_update(blob.len())?; // erases the inactive slot
//! for (i, chunk) in blob.chunks(100).enumerate() {
//!     update.write(i * 100, chunk)?; // as the bytes arrive from the link
//! }
//! update.commit(&mut buf)?; // verifies, then switches
//!
//! let booted = store.boot(&mut buf)?.expect("a valid model");
//! assert_eq!((booted.active.slot, booted.active.sequence), (Slot::A, 1));
//! assert_eq!(Model::from_blob(booted.blob)?.classes(), 2);
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

mod io;
mod layout;
mod trust;
mod update;

use core::fmt;

use embedded_storage::nor_flash::NorFlash;

use crate::Error;
use crate::blob::crc32;
use layout::{Geometry, Header};
pub use layout::{HEADER_LEN, Layout, MAX_UNIT, SLOT_MAGIC, SLOT_VERSION, Slot};
use trust::Trust;
pub(crate) use update::Progress;
pub use update::Update;

/// Everything that can go wrong using a store; `E` is the flash's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError<E> {
    /// The flash reported an error.
    Flash(E),
    /// The layout does not fit the flash: slots not made of whole erase sectors, beyond the
    /// flash's capacity or too small for a header; or flash units the store cannot work with:
    /// program or read units that are not powers of two up to [`MAX_UNIT`], larger than a
    /// sector, or a read unit that does not divide the payload's offset.
    BadLayout,
    /// The payload is longer than a slot holds.
    TooLarge {
        /// Payload bytes.
        len: usize,
        /// The most a slot holds.
        capacity: usize,
    },
    /// The buffer for reading a payload back is shorter than the payload.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// Bytes for an offset other than the next one expected.
    OutOfOrder {
        /// The offset of the next byte expected: bytes received so far.
        expected: usize,
    },
    /// More bytes than the update announced.
    Overrun {
        /// Bytes the update announced.
        len: usize,
    },
    /// A commit before every byte arrived.
    Incomplete {
        /// Bytes received.
        received: usize,
        /// Bytes announced.
        len: usize,
    },
    /// The payload read back from the flash differs from the bytes written.
    ReadBack,
    /// The payload is not a valid blob.
    Payload(Error),
    /// An update before [`Store::boot`] decided which slot is active.
    NotBooted,
}

impl<E: fmt::Debug> fmt::Display for StoreError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Flash(e) => write!(f, "flash error: {e:?}"),
            StoreError::BadLayout => f.write_str("the slot layout does not fit the flash"),
            StoreError::TooLarge { len, capacity } => {
                write!(f, "payload of {len} bytes, a slot holds {capacity}")
            }
            StoreError::BufferTooSmall { needed } => {
                write!(f, "the read buffer needs {needed} bytes")
            }
            StoreError::OutOfOrder { expected } => {
                write!(f, "expected bytes from offset {expected}")
            }
            StoreError::Overrun { len } => write!(f, "more bytes than the {len} announced"),
            StoreError::Incomplete { received, len } => {
                write!(f, "commit after {received} of {len} bytes")
            }
            StoreError::ReadBack => f.write_str("the flash read back other bytes than written"),
            StoreError::Payload(e) => write!(f, "invalid payload: {e}"),
            StoreError::NotBooted => f.write_str("update before boot"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for StoreError<E> {}

/// The slot a device runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Active {
    /// Which slot.
    pub slot: Slot,
    /// Its sequence number: one more at every update.
    pub sequence: u32,
    /// Its payload's length in bytes.
    pub len: usize,
    /// The security counter of its signed envelope; 0 for a store that takes plain blobs.
    pub counter: u32,
}

/// The outcome of a boot from the store: the active slot and its payload, read into the
/// caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Booted<'b> {
    /// The slot.
    pub active: Active,
    /// Its blob, validated (with [`Store::require_signature`], the blob inside the envelope):
    /// for [`Model::from_blob`](crate::Model::from_blob).
    pub blob: &'b [u8],
}

/// Two model slots on a NOR flash.
#[derive(Debug)]
pub struct Store<F> {
    flash: F,
    geometry: Geometry,
    /// `None` before [`Store::boot`]; then the active slot, if any.
    active: Option<Option<Active>>,
    trust: Trust,
}

impl<F: NorFlash> Store<F> {
    /// A store on `flash`; reads nothing yet.
    pub fn new(flash: F, layout: Layout) -> Result<Self, StoreError<F::Error>> {
        let (write, read, erase) = (F::WRITE_SIZE, F::READ_SIZE, F::ERASE_SIZE);
        let geometry = Geometry::new(layout, flash.capacity(), write, read, erase)
            .ok_or(StoreError::BadLayout)?;
        Ok(Self { flash, geometry, active: None, trust: Trust::Any })
    }

    /// Takes only Ed25519-signed envelopes ([`signed`](crate::signed)) by `public_key`, with a
    /// security counter of at least `minimum_counter` and, for an update, at least the active
    /// slot's: a slot holding anything else is not valid. Call before [`Store::boot`].
    #[cfg(feature = "signed")]
    pub fn require_signature(
        &mut self,
        public_key: [u8; crate::signed::PUBLIC_KEY_LEN],
        minimum_counter: u32,
    ) {
        self.trust = Trust::Signed { public_key, minimum_counter };
    }

    /// Whether slots must hold signed envelopes ([`Store::require_signature`]).
    pub fn requires_signature(&self) -> bool {
        !matches!(self.trust, Trust::Any)
    }

    /// The active slot, once [`Store::boot`] ran; `None` also when the device runs its
    /// compiled-in model.
    pub fn active(&self) -> Option<Active> {
        self.active.flatten()
    }

    /// The longest payload a slot holds.
    pub fn capacity(&self) -> usize {
        self.geometry.capacity() as usize
    }

    /// Checks both slots and returns the newest valid one with its blob, read into `buf`;
    /// `None` when neither is valid (or fits `buf`). Updates write the other slot.
    pub fn boot<'b>(
        &mut self,
        buf: &'b mut [u8],
    ) -> Result<Option<Booted<'b>>, StoreError<F::Error>> {
        let (a, b) = (self.header(Slot::A)?, self.header(Slot::B)?);
        let b_first = match (a, b) {
            (Some(a), Some(b)) => b.is_newer_than(&a),
            _ => b.is_some(),
        };
        let order =
            if b_first { [(Slot::B, b), (Slot::A, a)] } else { [(Slot::A, a), (Slot::B, b)] };
        let mut booted = None;
        for (slot, header) in order {
            let Some(header) = header else { continue };
            if let Some(checked) = self.valid_payload(slot, &header, buf)? {
                let len = header.len as usize;
                let active =
                    Active { slot, sequence: header.sequence, len, counter: checked.counter };
                booted = Some((active, checked.blob));
                break;
            }
        }
        self.active = Some(booted.as_ref().map(|(active, _)| *active));
        Ok(booted.and_then(|(active, blob)| Some(Booted { active, blob: buf.get(blob)? })))
    }

    /// A slot's header, if it decodes and its length fits the slot.
    fn header(&mut self, slot: Slot) -> Result<Option<Header>, StoreError<F::Error>> {
        let mut bytes = [0; HEADER_LEN];
        io::read(&mut self.flash, self.geometry.slot_start(slot), &mut bytes)
            .map_err(StoreError::Flash)?;
        let capacity = self.geometry.capacity();
        Ok(Header::decode(&bytes).filter(|h| h.len <= capacity))
    }

    /// Reads a slot's payload into `buf` and checks it against its header, as a blob and
    /// against the store's trust.
    fn valid_payload(
        &mut self,
        slot: Slot,
        header: &Header,
        buf: &mut [u8],
    ) -> Result<Option<trust::Checked>, StoreError<F::Error>> {
        let Some(payload) = buf.get_mut(..header.len as usize) else { return Ok(None) };
        self.read_payload(slot, payload)?;
        let crc_ok = crc32(payload) == header.payload_crc;
        Ok(crc_ok.then(|| self.trust.check(payload, 0).ok()).flatten())
    }

    fn read_payload(&mut self, slot: Slot, out: &mut [u8]) -> Result<(), StoreError<F::Error>> {
        let at = self.geometry.slot_start(slot) + self.geometry.data_offset;
        io::read(&mut self.flash, at, out).map_err(StoreError::Flash)
    }

    /// Starts writing a payload of `len` bytes into the inactive slot, erasing it first.
    pub fn begin_update(&mut self, len: usize) -> Result<Update<'_, F>, StoreError<F::Error>> {
        let active = self.active.ok_or(StoreError::NotBooted)?;
        let capacity = self.capacity();
        let len32 = u32::try_from(len)
            .ok()
            .filter(|&n| n as usize <= capacity)
            .ok_or(StoreError::TooLarge { len, capacity })?;
        let (slot, sequence) = match active {
            Some(active) => (active.slot.other(), active.sequence.wrapping_add(1)),
            None => (Slot::A, 1),
        };
        for (from, to) in self.geometry.sectors(slot, len32) {
            self.flash.erase(from, to).map_err(StoreError::Flash)?;
        }
        Ok(Update::new(self, slot, sequence, len))
    }

    /// Checks a payload an update wrote: a valid blob, trusted, and with a security counter
    /// not below the active slot's.
    fn check_update(&self, payload: &[u8]) -> Result<trust::Checked, Error> {
        self.trust.check(payload, self.active().map_or(0, |active| active.counter))
    }
}
