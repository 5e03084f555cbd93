//! Flash reads of any offset and length, over a flash that reads whole `READ_SIZE` units.

use embedded_storage::nor_flash::ReadNorFlash;

use super::layout::MAX_UNIT;

/// Fills `out` from `offset`. Whole aligned units go straight into `out`; a range's unaligned
/// ends go through a stack buffer of one unit, so reads may run up to `READ_SIZE - 1` bytes
/// past its end (the store's capacity keeps them inside the slot).
pub(crate) fn read<F: ReadNorFlash>(
    flash: &mut F,
    mut offset: u32,
    mut out: &mut [u8],
) -> Result<(), F::Error> {
    let unit = F::READ_SIZE.clamp(1, MAX_UNIT);
    while !out.is_empty() {
        let skip = offset as usize % unit;
        let whole = if skip == 0 { out.len() - out.len() % unit } else { 0 };
        let (done, rest) = if whole > 0 {
            let (now, rest) = out.split_at_mut(whole);
            flash.read(offset, now)?;
            (whole, rest)
        } else {
            let mut buf = [0; MAX_UNIT];
            let buf = buf.get_mut(..unit).unwrap_or_default();
            flash.read(offset - skip as u32, buf)?;
            let tail = buf.get(skip..).unwrap_or_default();
            let done = tail.len().min(out.len());
            let (now, rest) = out.split_at_mut(done);
            now.copy_from_slice(tail.get(..done).unwrap_or_default());
            (done, rest)
        };
        out = rest;
        offset += done as u32;
    }
    Ok(())
}
