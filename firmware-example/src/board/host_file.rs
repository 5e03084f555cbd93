//! Files on the host through Arm semihosting, which QEMU opens relative to its working
//! directory: what the firmware keeps there outlives the QEMU process, as flash outlives a
//! power cycle.

use core::ffi::CStr;

use cortex_m_semihosting::nr::open;
use cortex_m_semihosting::syscall;

/// The semihosting call that failed, by its name in Arm's specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostError(pub &'static str);

/// An open host file, closed when dropped.
pub struct HostFile(usize);

impl HostFile {
    /// Opens `name` for reading and writing, binary (fopen's "r+b"): the file must exist.
    pub fn open_rw(name: &CStr) -> Result<Self, HostError> {
        Self::open(name, open::RW_BINARY)
    }

    /// Opens `name` for reading, binary (fopen's "rb").
    pub fn open_read(name: &CStr) -> Result<Self, HostError> {
        Self::open(name, open::R_BINARY)
    }

    fn open(name: &CStr, mode: usize) -> Result<Self, HostError> {
        let len = name.to_bytes().len();
        // SAFETY: SYS_OPEN reads the NUL-terminated name, `len` bytes before the NUL.
        match unsafe { syscall!(OPEN, name.as_ptr(), mode, len) } as isize {
            -1 => Err(HostError("SYS_OPEN")),
            handle => Ok(Self(handle as usize)),
        }
    }

    /// The file's length in bytes.
    pub fn len(&self) -> Result<usize, HostError> {
        // SAFETY: SYS_FLEN only takes the handle.
        match unsafe { syscall!(FLEN, self.0) } as isize {
            len if len < 0 => Err(HostError("SYS_FLEN")),
            len => Ok(len as usize),
        }
    }

    /// Fills `out` from offset `at`; a short read is an error.
    pub fn read_at(&mut self, at: u32, out: &mut [u8]) -> Result<(), HostError> {
        self.seek(at)?;
        // SAFETY: SYS_READ writes at most `out.len()` bytes into `out`; it returns the number
        // it did not read.
        match unsafe { syscall!(READ, self.0, out.as_mut_ptr(), out.len()) } {
            0 => Ok(()),
            _ => Err(HostError("SYS_READ")),
        }
    }

    /// Writes all of `bytes` at offset `at`.
    pub fn write_at(&mut self, at: u32, bytes: &[u8]) -> Result<(), HostError> {
        self.seek(at)?;
        // SAFETY: SYS_WRITE reads `bytes.len()` bytes from `bytes`; it returns the number it
        // did not write.
        match unsafe { syscall!(WRITE, self.0, bytes.as_ptr(), bytes.len()) } {
            0 => Ok(()),
            _ => Err(HostError("SYS_WRITE")),
        }
    }

    fn seek(&mut self, at: u32) -> Result<(), HostError> {
        // SAFETY: SYS_SEEK only takes the handle and an offset.
        match unsafe { syscall!(SEEK, self.0, at) } {
            0 => Ok(()),
            _ => Err(HostError("SYS_SEEK")),
        }
    }
}

impl Drop for HostFile {
    fn drop(&mut self) {
        // SAFETY: SYS_CLOSE only takes the handle, which is not used again. A failure leaves
        // nothing to do.
        unsafe { syscall!(CLOSE, self.0) };
    }
}
