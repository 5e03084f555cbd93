//! Where things are on the flash: the two slots, the header in each, and the header's bytes.

use crate::blob::{ALIGNMENT, crc32};

/// The first four bytes of a slot header: "infer-core slot".
pub const SLOT_MAGIC: [u8; 4] = *b"ICSL";
/// The slot layout version this build reads and writes.
pub const SLOT_VERSION: u32 = 1;
/// Bytes of a slot header; the payload starts 32 bytes into the slot, or `WRITE_SIZE` bytes
/// if that is more.
pub const HEADER_LEN: usize = 24;
/// Largest `WRITE_SIZE` and `READ_SIZE` a store works with (both powers of two): the size of
/// its staging buffer.
pub const MAX_UNIT: usize = 256;

/// Two slots of `slot_size` bytes, the first at `start`, the second right after it; both
/// numbers are multiples of the flash's `ERASE_SIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Offset of the first slot in the flash.
    pub start: u32,
    /// Bytes of each slot: header area and payload.
    pub slot_size: u32,
}

/// One of the two slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Slot {
    /// The slot at [`Layout::start`].
    A,
    /// The slot after it.
    B,
}

impl Slot {
    /// The slot an update writes while this one is active.
    pub fn other(self) -> Self {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
}

/// A layout checked against a flash's sizes, with the offsets it implies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    layout: Layout,
    /// Offset of the payload in a slot.
    pub data_offset: u32,
    /// Program and read granularity: the larger of `WRITE_SIZE` and `READ_SIZE`.
    unit: u32,
    pub erase_size: u32,
}

impl Geometry {
    /// `None` when the layout does not fit the flash or its sizes.
    pub fn new(
        layout: Layout,
        capacity: usize,
        write_size: usize,
        read_size: usize,
        erase_size: usize,
    ) -> Option<Self> {
        let unit_ok = |s: usize| s.is_power_of_two() && s <= MAX_UNIT;
        let erase_size = u32::try_from(erase_size)
            .ok()
            .filter(|&e| e > 0 && unit_ok(write_size) && unit_ok(read_size))?;
        let (w, r) = (write_size as u32, read_size as u32);
        // A multiple of 16 and of `WRITE_SIZE` (both powers of two) that holds a header, so
        // that a payload in a 16-byte aligned flash is itself 16-byte aligned (blob layout).
        let data_offset = w.max(HEADER_LEN.next_multiple_of(ALIGNMENT) as u32);
        let end = layout.slot_size.checked_mul(2)?.checked_add(layout.start)?;
        let fits = usize::try_from(end).is_ok_and(|end| end <= capacity)
            && layout.start.is_multiple_of(erase_size)
            && layout.slot_size.is_multiple_of(erase_size)
            && layout.slot_size > data_offset
            && data_offset.is_multiple_of(r)
            && erase_size.is_multiple_of(w.max(r));
        fits.then_some(Self { layout, data_offset, unit: w.max(r), erase_size })
    }

    /// Offset of a slot in the flash.
    pub fn slot_start(&self, slot: Slot) -> u32 {
        match slot {
            Slot::A => self.layout.start,
            Slot::B => self.layout.start + self.layout.slot_size,
        }
    }

    /// The longest payload a slot holds: its last program or read unit stays in the slot.
    pub fn capacity(&self) -> u32 {
        let room = self.layout.slot_size - self.data_offset;
        room - room % self.unit
    }

    /// The erase sectors that `len` payload bytes and the header occupy, as `(from, to)`.
    pub fn sectors(&self, slot: Slot, len: u32) -> impl Iterator<Item = (u32, u32)> {
        let start = self.slot_start(slot);
        let used = (self.data_offset + len).div_ceil(self.erase_size);
        let size = self.erase_size;
        (0..used).map(move |i| (start + i * size, start + (i + 1) * size))
    }
}

/// What a slot header records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub sequence: u32,
    pub len: u32,
    pub payload_crc: u32,
}

impl Header {
    /// The header's bytes, its CRC-32 last.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        let words = [SLOT_VERSION, self.sequence, self.len, self.payload_crc];
        let (fields, crc) = out.split_at_mut(HEADER_LEN - 4);
        let (magic, rest) = fields.split_at_mut(4);
        magic.copy_from_slice(&SLOT_MAGIC);
        for (chunk, word) in rest.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        crc.copy_from_slice(&crc32(fields).to_le_bytes());
        out
    }

    /// `None` for anything but a header this build wrote: erased or half-programmed flash, a
    /// bad CRC-32, another magic or version.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Option<Self> {
        let (words, _) = bytes.as_chunks::<4>();
        let [magic, version, sequence, len, payload_crc, crc] = *words else { return None };
        let word = u32::from_le_bytes;
        let valid = magic == SLOT_MAGIC
            && word(version) == SLOT_VERSION
            && bytes.get(..HEADER_LEN - 4).is_some_and(|f| crc32(f) == word(crc));
        let header =
            Self { sequence: word(sequence), len: word(len), payload_crc: word(payload_crc) };
        valid.then_some(header)
    }

    /// Whether this header was written after `other`: sequence numbers wrap around, and the
    /// two slots' numbers are never far apart.
    pub fn is_newer_than(&self, other: &Self) -> bool {
        (self.sequence.wrapping_sub(other.sequence) as i32) > 0
    }
}
