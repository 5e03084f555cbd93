//! A simulated NOR flash with the rules of real parts, and power cuts in the middle of an
//! operation.
//!
//! Erased cells read `FF`; a program clears bits only (programming a 1 over a 0 leaves the 0),
//! in whole `W`-byte words, each at most once between erases; an erase sets whole `E`-byte
//! sectors to `FF`; reads come in `R`-byte units. Misaligned or out-of-range operations fail
//! as the `embedded-storage` traits say. A [`Cut`] stops the power during one program or erase,
//! which then takes effect only in part; every operation after it fails.

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash, check_erase, check_read,
    check_write,
};

/// Why an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimError {
    /// Misaligned or out of range, as the traits define it.
    Invalid(NorFlashErrorKind),
    /// A word programmed twice without an erase in between.
    Reprogrammed { offset: usize },
    /// The power is gone.
    PowerLost,
}

impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::Invalid(kind) => *kind,
            _ => NorFlashErrorKind::Other,
        }
    }
}

/// Where the power fails: during the `op`-th program or erase (counting from 1).
#[derive(Debug, Clone, Copy)]
pub struct Cut {
    pub op: usize,
    /// Bytes of that operation applied completely, from its start; the next one is applied
    /// in part.
    pub done: usize,
    /// Chooses the partial bits.
    pub seed: u64,
}

/// What a program or erase touched, for planning cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Program { offset: usize, len: usize },
    Erase { from: usize, to: usize },
}

impl Op {
    pub fn len(&self) -> usize {
        match *self {
            Op::Program { len, .. } => len,
            Op::Erase { from, to } => to - from,
        }
    }
}

/// `R`: read unit, `W`: program unit, `E`: erase sector, all in bytes.
#[derive(Debug, Clone)]
pub struct SimFlash<const R: usize, const W: usize, const E: usize> {
    pub cells: Vec<u8>,
    /// Words programmed since their sector's last erase.
    programmed: Vec<bool>,
    /// Erases per sector, for wear.
    pub erases: Vec<u32>,
    /// Programs and erases since power-on, the cut one included.
    pub ops: Vec<Op>,
    cut: Option<Cut>,
    powered: bool,
}

impl<const R: usize, const W: usize, const E: usize> SimFlash<R, W, E> {
    /// An erased flash of `sectors` sectors.
    pub fn new(sectors: usize) -> Self {
        let len = sectors * E;
        let (programmed, erases) = (vec![false; len / W], vec![0; sectors]);
        Self {
            cells: vec![0xFF; len],
            programmed,
            erases,
            ops: Vec::new(),
            cut: None,
            powered: true,
        }
    }

    /// The same cells after a power cycle: nothing armed, every operation works again.
    pub fn reboot(&mut self) {
        (self.ops, self.cut, self.powered) = (Vec::new(), None, true);
    }

    /// Arms a power cut.
    pub fn arm(&mut self, cut: Cut) {
        self.cut = Some(cut);
    }

    /// Whether the armed cut happened.
    pub fn power_lost(&self) -> bool {
        !self.powered
    }

    /// Counts an operation; returns the armed cut if it strikes this one.
    fn begin(&mut self, op: Op) -> Result<Option<Cut>, SimError> {
        if !self.powered {
            return Err(SimError::PowerLost);
        }
        self.ops.push(op);
        let cut = self.cut.filter(|cut| cut.op == self.ops.len());
        self.powered = cut.is_none();
        Ok(cut)
    }

    fn program(&mut self, offset: usize, bytes: &[u8], cut: Option<Cut>) {
        let mut rng = Rng(cut.map_or(0, |c| c.seed));
        let done = cut.map_or(bytes.len(), |c| c.done.min(bytes.len()));
        for (i, &byte) in bytes.iter().enumerate() {
            let cell = &mut self.cells[offset + i];
            match i.cmp(&done) {
                std::cmp::Ordering::Less => *cell &= byte,
                // Some of the bits to clear are cleared, the others still read 1.
                std::cmp::Ordering::Equal => *cell &= byte | rng.byte(),
                std::cmp::Ordering::Greater => {}
            }
        }
    }

    fn erase_cells(&mut self, from: usize, to: usize, cut: Option<Cut>) {
        let mut rng = Rng(cut.map_or(0, |c| c.seed));
        let done = cut.map_or(to - from, |c| c.done.min(to - from));
        for (i, cell) in self.cells[from..to].iter_mut().enumerate() {
            if i < done {
                *cell = 0xFF;
            } else {
                // Past the cut: some bytes erased, some untouched, some with bits set in part.
                match rng.byte() % 3 {
                    0 => *cell = 0xFF,
                    1 => {}
                    _ => *cell |= rng.byte(),
                }
            }
        }
    }
}

impl<const R: usize, const W: usize, const E: usize> ErrorType for SimFlash<R, W, E> {
    type Error = SimError;
}

impl<const R: usize, const W: usize, const E: usize> ReadNorFlash for SimFlash<R, W, E> {
    const READ_SIZE: usize = R;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        check_read(self, offset, bytes.len()).map_err(SimError::Invalid)?;
        if !self.powered {
            return Err(SimError::PowerLost);
        }
        let at = offset as usize;
        bytes.copy_from_slice(&self.cells[at..at + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.cells.len()
    }
}

impl<const R: usize, const W: usize, const E: usize> NorFlash for SimFlash<R, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        check_erase(self, from, to).map_err(SimError::Invalid)?;
        let (from, to) = (from as usize, to as usize);
        let cut = self.begin(Op::Erase { from, to })?;
        self.erase_cells(from, to, cut);
        // A cut erase leaves words in an unknown state: programming them again is allowed
        // only after a complete erase, so they count as programmed.
        self.programmed[from / W..to / W].fill(cut.is_some());
        self.erases[from / E..to / E].iter_mut().for_each(|n| *n += 1);
        if cut.is_some() { Err(SimError::PowerLost) } else { Ok(()) }
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        check_write(self, offset, bytes.len()).map_err(SimError::Invalid)?;
        let offset = offset as usize;
        let words = offset / W..(offset + bytes.len()) / W;
        if let Some(word) = words.clone().find(|&w| self.programmed[w]) {
            return Err(SimError::Reprogrammed { offset: word * W });
        }
        let cut = self.begin(Op::Program { offset, len: bytes.len() })?;
        self.program(offset, bytes, cut);
        self.programmed[words].fill(true);
        if cut.is_some() { Err(SimError::PowerLost) } else { Ok(()) }
    }
}

/// SplitMix64: a seeded, reproducible choice of partial bits.
struct Rng(u64);

impl Rng {
    fn byte(&mut self) -> u8 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as u8
    }
}
