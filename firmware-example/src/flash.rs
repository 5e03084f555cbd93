//! The model store's NOR flash under QEMU: the host file `flash.bin` in QEMU's working
//! directory (which outlives the process, as flash outlives a power cycle), programmed and
//! erased by the rules of NOR flash, so the store meets what it would on a microcontroller.
//!
//! A power cut on demand: if `flash.cut` next to it holds a number N, the Nth program or erase
//! since boot does only its first half, then the firmware stops dead, as if the power went.

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash, check_erase, check_read,
    check_write,
};

use crate::board::host_file::{HostError, HostFile};
use crate::board::hprintln;

/// Bytes of flash: the store's two slots.
pub const CAPACITY: usize = 64 * 1024;
/// The file that holds the flash's bytes.
const FILE: &core::ffi::CStr = c"flash.bin";
/// The file that arms the power cut.
const CUT_FILE: &core::ffi::CStr = c"flash.cut";

/// Program and erase operations since boot: what `flash.cut` counts.
static ERASES: AtomicU32 = AtomicU32::new(0);
static PROGRAMS: AtomicU32 = AtomicU32::new(0);

/// Erases and programs since boot, for the log (and for choosing where to cut the power).
pub fn operations() -> (u32, u32) {
    (ERASES.load(Ordering::Relaxed), PROGRAMS.load(Ordering::Relaxed))
}

/// What can go wrong with the flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// An access out of bounds or not aligned to the flash's units.
    Nor(NorFlashErrorKind),
    /// A semihosting call on the host file failed.
    Host(HostError),
    /// `flash.bin` cannot be opened.
    Missing,
    /// `flash.bin` has this many bytes, not [`CAPACITY`].
    Size(usize),
    /// `flash.cut` holds no operation number.
    CutSetting,
    /// A program over a word that is not erased: NOR flash programs a word once per erase.
    Reprogrammed(u32),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Nor(kind) => write!(f, "{kind:?}"),
            Error::Host(HostError(call)) => write!(f, "{call} failed on flash.bin"),
            Error::Missing => write!(
                f,
                "flash.bin: not found in QEMU's working directory (create it erased: \
                 {CAPACITY} bytes of 0xFF)"
            ),
            Error::Size(len) => write!(f, "flash.bin holds {len} bytes, the flash {CAPACITY}"),
            Error::CutSetting => f.write_str("flash.cut: not an operation number"),
            Error::Reprogrammed(at) => write!(f, "program over a word not erased at {at:#x}"),
        }
    }
}

impl NorFlashError for Error {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Error::Nor(kind) => *kind,
            _ => NorFlashErrorKind::Other,
        }
    }
}

impl From<HostError> for Error {
    fn from(error: HostError) -> Self {
        Error::Host(error)
    }
}

/// The flash in `flash.bin`.
pub struct Flash {
    file: HostFile,
    /// The program or erase that the power cut interrupts, counted from 1 since boot.
    cut_at: Option<u32>,
}

impl Flash {
    /// Opens `flash.bin`, which must hold [`CAPACITY`] bytes, and reads `flash.cut` if any.
    pub fn open() -> Result<Self, Error> {
        let file = HostFile::open_rw(FILE).map_err(|_| Error::Missing)?;
        match file.len()? {
            CAPACITY => {}
            len => return Err(Error::Size(len)),
        }
        let cut_at = cut_setting()?;
        if let Some(n) = cut_at {
            hprintln!("flash: power cut armed at program or erase {}", n);
        }
        Ok(Self { file, cut_at })
    }

    /// Counts an operation; true if the power goes during it.
    fn power_cut(&self, counter: &AtomicU32) -> bool {
        counter.fetch_add(1, Ordering::Relaxed);
        let (erases, programs) = operations();
        self.cut_at == Some(erases + programs)
    }
}

/// The operation number in `flash.cut`, if the file exists.
fn cut_setting() -> Result<Option<u32>, Error> {
    let Ok(mut file) = HostFile::open_read(CUT_FILE) else { return Ok(None) };
    let mut text = [0; 16];
    let text = text.get_mut(..file.len()?).ok_or(Error::CutSetting)?;
    file.read_at(0, text)?;
    let number = core::str::from_utf8(text).map_err(|_| Error::CutSetting)?.trim();
    number.parse().map(Some).map_err(|_| Error::CutSetting)
}

/// The power is gone: say so, and do nothing more.
fn halt(operation: &str, at: u32) -> ! {
    let (erases, programs) = operations();
    hprintln!(
        "flash: power cut during operation {} ({} at {:#x})",
        erases + programs,
        operation,
        at
    );
    loop {
        cortex_m::asm::wfi();
    }
}

impl ErrorType for Flash {
    type Error = Error;
}

impl ReadNorFlash for Flash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Error> {
        check_read(self, offset, bytes.len()).map_err(Error::Nor)?;
        Ok(self.file.read_at(offset, bytes)?)
    }

    fn capacity(&self) -> usize {
        CAPACITY
    }
}

impl NorFlash for Flash {
    /// A word, like the internal flash of many microcontrollers (nRF52, STM32L4 takes 8).
    const WRITE_SIZE: usize = 4;
    /// A 4 KiB sector, like a nRF52's page or a serial NOR flash's sector.
    const ERASE_SIZE: usize = 4096;

    /// Sets every byte of the sectors `from..to` to 0xFF.
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Error> {
        check_erase(self, from, to).map_err(Error::Nor)?;
        let cut = self.power_cut(&ERASES);
        let end = if cut { from + (to - from) / 2 } else { to };
        let ones = [0xFF; 256];
        for at in (from..end).step_by(ones.len()) {
            let n = ones.len().min((end - at) as usize);
            self.file.write_at(at, &ones[..n])?;
        }
        if cut {
            halt("erase", from);
        }
        Ok(())
    }

    /// Clears the bits that are 0 in `bytes`: programming cannot set a bit, only an erase can,
    /// and each word takes one program per erase (a word that does not read erased is refused,
    /// as the store's host tests refuse any word programmed twice).
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        check_write(self, offset, bytes.len()).map_err(Error::Nor)?;
        let cut = self.power_cut(&PROGRAMS);
        let bytes = if cut { &bytes[..bytes.len() / 2] } else { bytes };
        let mut cells = [0; 256];
        for (i, chunk) in bytes.chunks(cells.len()).enumerate() {
            let at = offset + (i * cells.len()) as u32;
            let cells = &mut cells[..chunk.len()];
            self.file.read_at(at, cells)?;
            let used =
                cells.chunks(Self::WRITE_SIZE).position(|word| word.iter().any(|&b| b != 0xFF));
            if let Some(word) = used {
                return Err(Error::Reprogrammed(at + (word * Self::WRITE_SIZE) as u32));
            }
            cells.iter_mut().zip(chunk).for_each(|(cell, byte)| *cell &= byte);
            self.file.write_at(at, cells)?;
        }
        if cut {
            halt("program", offset);
        }
        Ok(())
    }
}
