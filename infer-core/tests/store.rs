//! The model store on a simulated NOR flash: updates, boots, and power cuts at every flash
//! operation of an update.

mod sim_flash;

use std::io::Write;
use std::time::Instant;

use infer_core::store::{Active, Layout, Slot, Store, StoreError};
use sim_flash::{Cut, Op, SimError, SimFlash};

const INT8: &[u8] = include_bytes!("../../tests/fixtures/model.int8.postcard");
const INT4: &[u8] = include_bytes!("../../tests/fixtures/model.int4.postcard");

/// Byte reads, 8-byte program words, 1 KiB sectors: one spare sector on each side of two
/// 8-sector slots, to check that nothing outside the slots is touched.
type Flash = SimFlash<1, 8, 1024>;
const SECTOR: usize = 1024;
const LAYOUT: Layout = Layout { start: SECTOR as u32, slot_size: 8 * SECTOR as u32 };

fn flash() -> Flash {
    Flash::new(18)
}

/// Boots a store on `flash`: the active slot and its blob's bytes.
fn boot(flash: &mut Flash) -> Option<(Active, Vec<u8>)> {
    let mut buf = vec![0; 8192];
    let mut store = Store::new(flash, LAYOUT).unwrap();
    let booted = store.boot(&mut buf).unwrap()?;
    Some((booted.active, booted.blob.to_vec()))
}

/// Boots, then writes `blob` in chunks of `chunk` bytes and commits it.
fn update(flash: &mut Flash, blob: &[u8], chunk: usize) -> Result<Active, StoreError<SimError>> {
    let mut buf = vec![0; 8192];
    let mut store = Store::new(flash, LAYOUT)?;
    store.boot(&mut buf)?;
    let mut update = store.begin_update(blob.len())?;
    for (i, piece) in blob.chunks(chunk).enumerate() {
        update.write(i * chunk, piece)?;
    }
    update.commit(&mut buf)
}

/// The blob a device boots, after a power cycle.
fn booted_blob(flash: &mut Flash) -> Option<Vec<u8>> {
    flash.reboot();
    boot(flash).map(|(_, blob)| blob)
}

fn assert_outside_untouched(flash: &Flash) {
    let (first, last) = (&flash.cells[..SECTOR], &flash.cells[17 * SECTOR..]);
    assert!(first.iter().chain(last).all(|&b| b == 0xFF), "a write outside the slots");
}

#[test]
fn empty_flash_boots_nothing() {
    assert_eq!(boot(&mut flash()), None);
}

#[test]
fn an_update_boots_the_new_model_from_the_other_slot() {
    let mut flash = flash();
    let first = update(&mut flash, INT8, 100).unwrap();
    assert_eq!((first.slot, first.sequence, first.len), (Slot::A, 1, INT8.len()));
    let second = update(&mut flash, INT4, 7).unwrap();
    assert_eq!((second.slot, second.sequence), (Slot::B, 2));
    flash.reboot();
    assert_eq!(boot(&mut flash), Some((second, INT4.to_vec())));
    assert_outside_untouched(&flash);
}

#[test]
fn chunks_of_any_size_store_the_same_bytes() {
    for chunk in [1, 3, 8, 255, 256, 257, 1000, INT8.len()] {
        let mut flash = flash();
        update(&mut flash, INT8, chunk).unwrap();
        assert_eq!(booted_blob(&mut flash).as_deref(), Some(INT8), "chunks of {chunk}");
    }
}

#[test]
fn repeated_updates_alternate_slots_and_count_up() {
    let mut flash = flash();
    for i in 1..=20u32 {
        let blob = if i % 2 == 0 { INT4 } else { INT8 };
        let active = update(&mut flash, blob, 64).unwrap();
        let slot = if i % 2 == 1 { Slot::A } else { Slot::B };
        assert_eq!((active.slot, active.sequence), (slot, i));
        flash.reboot();
        assert_eq!(boot(&mut flash), Some((active, blob.to_vec())));
    }
    // Each slot was erased at every other update: its first sector ten times.
    assert_eq!((flash.erases[1], flash.erases[9]), (10, 10));
    assert_outside_untouched(&flash);
}

#[test]
fn sequence_numbers_wrap_around() {
    // Slot A at u32::MAX, slot B at 0 (one more, wrapped): B is the newer.
    let mut flash = flash();
    update(&mut flash, INT8, 512).unwrap();
    let mut header = flash.cells[SECTOR..SECTOR + 24].to_vec();
    header[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(&header[..20]);
    header[20..24].copy_from_slice(&crc.to_le_bytes());
    let mut rewritten = Flash::new(18);
    rewritten.cells.copy_from_slice(&flash.cells);
    rewritten.cells[SECTOR..SECTOR + 24].copy_from_slice(&header);
    assert_eq!(boot(&mut rewritten).unwrap().0.sequence, u32::MAX);
    let active = update(&mut rewritten, INT4, 512).unwrap();
    assert_eq!((active.slot, active.sequence), (Slot::B, 0));
    assert_eq!(booted_blob(&mut rewritten).as_deref(), Some(INT4));
}

#[test]
fn a_damaged_active_slot_falls_back_to_the_other() {
    let payload = 9 * SECTOR + 32; // slot B's payload
    for (what, at) in [
        ("header", 9 * SECTOR + 12),
        ("blob", payload + 100),
        ("blob CRC", payload + INT4.len() - 1),
    ] {
        let mut flash = flash();
        update(&mut flash, INT8, 256).unwrap();
        update(&mut flash, INT4, 256).unwrap();
        flash.cells[at] ^= 0x10;
        let (active, blob) = boot(&mut flash).unwrap();
        assert_eq!((active.slot, blob.as_slice()), (Slot::A, INT8), "damaged {what}");
        // The next update replaces the damaged slot.
        assert_eq!(update(&mut flash, INT4, 256).unwrap().slot, Slot::B, "after damaged {what}");
        assert_eq!(booted_blob(&mut flash).as_deref(), Some(INT4));
    }
}

#[test]
fn refusals_leave_the_active_model() {
    let mut flash = flash();
    update(&mut flash, INT8, 256).unwrap();
    let mut buf = vec![0; 8192];
    let mut store = Store::new(&mut flash, LAYOUT).unwrap();
    let capacity = store.capacity();
    assert_eq!(store.begin_update(10).unwrap_err(), StoreError::NotBooted);
    store.boot(&mut buf).unwrap();
    let too_large = StoreError::TooLarge { len: capacity + 1, capacity };
    assert_eq!(store.begin_update(capacity + 1).unwrap_err(), too_large);

    let mut update = store.begin_update(INT4.len()).unwrap();
    update.write(0, &INT4[..100]).unwrap();
    assert_eq!(update.write(50, &INT4[50..60]), Err(StoreError::OutOfOrder { expected: 100 }));
    assert_eq!(update.write(100, INT4), Err(StoreError::Overrun { len: INT4.len() }));
    let incomplete = StoreError::Incomplete { received: 100, len: INT4.len() };
    assert_eq!(update.commit(&mut buf).unwrap_err(), incomplete);

    let mut corrupt = INT4.to_vec();
    corrupt[200] ^= 1;
    let mut update = store.begin_update(corrupt.len()).unwrap();
    update.write(0, &corrupt).unwrap();
    let payload_error = StoreError::Payload(infer_core::Error::ChecksumMismatch);
    assert_eq!(update.commit(&mut buf).unwrap_err(), payload_error);

    let mut update = store.begin_update(INT4.len()).unwrap();
    update.write(0, INT4).unwrap();
    let small = StoreError::BufferTooSmall { needed: INT4.len() };
    assert_eq!(update.commit(&mut buf[..100]).unwrap_err(), small);
    assert_eq!(booted_blob(&mut flash).as_deref(), Some(INT8));
}

#[test]
fn layouts_that_do_not_fit_are_refused() {
    let bad = [
        Layout { start: 100, slot_size: 8 * SECTOR as u32 }, // not on a sector
        Layout { start: 0, slot_size: 1000 },                // not whole sectors
        Layout { start: SECTOR as u32, slot_size: 9 * SECTOR as u32 }, // past the end
        Layout { start: 0, slot_size: u32::MAX / 2 + 1 },    // overflows
    ];
    for layout in bad {
        let error = Store::new(flash(), layout).unwrap_err();
        assert_eq!(error, StoreError::BadLayout, "{layout:?}");
    }
}

#[test]
fn flash_units_the_store_cannot_use_are_refused() {
    let layout = Layout { start: 0, slot_size: 4096 };
    let wide = Store::new(SimFlash::<1, 512, 4096>::new(2), layout);
    assert_eq!(wide.unwrap_err(), StoreError::BadLayout);
    let odd = Store::new(SimFlash::<1, 12, 4096>::new(2), layout);
    assert_eq!(odd.unwrap_err(), StoreError::BadLayout);
}

#[test]
fn large_program_and_read_units_round_trip() {
    // 256-byte program pages, 4-byte reads: the payload starts 256 bytes into the slot.
    let mut flash = SimFlash::<4, 256, 4096>::new(8);
    let layout = Layout { start: 4096, slot_size: 3 * 4096 };
    let mut buf = vec![0; 8192];
    for (blob, slot) in [(INT8, Slot::A), (INT4, Slot::B), (INT8, Slot::A)] {
        flash.reboot();
        let mut store = Store::new(&mut flash, layout).unwrap();
        store.boot(&mut buf).unwrap();
        let mut update = store.begin_update(blob.len()).unwrap();
        for (i, piece) in blob.chunks(33).enumerate() {
            update.write(i * 33, piece).unwrap();
        }
        assert_eq!(update.commit(&mut buf).unwrap().slot, slot);
        let booted = store.boot(&mut buf).unwrap().unwrap();
        assert_eq!((booted.active.slot, booted.blob), (slot, blob));
    }
    let slot_b = 4 * 4096;
    assert_eq!(&flash.cells[slot_b + 24..slot_b + 256], &[0xFF; 232], "header area");
}

/// A flash whose active model is `old` (none: empty), and the slot the update writes holding
/// `stale` (none: erased).
fn prepared(old: Option<&[u8]>, stale: Option<&[u8]>) -> Flash {
    let mut flash = flash();
    for blob in [stale, old].into_iter().flatten() {
        update(&mut flash, blob, 256).unwrap();
    }
    flash.reboot();
    flash
}

/// The cuts tried in one operation: every byte of a program (the header's included), every
/// 64th of an erase, each with several patterns of half-set bits.
fn cuts(k: usize, op: Op) -> impl Iterator<Item = Cut> {
    let step = match op {
        Op::Program { .. } => 1,
        Op::Erase { .. } => 64,
    };
    (0..op.len())
        .step_by(step)
        .flat_map(move |done| (0..3).map(move |seed| Cut { op: k, done, seed }))
}

/// Cuts the power at every operation of an update from `old` to `new`; after each cut the
/// device boots exactly `old` (or `new` once the header is being written), then completes the
/// next update. Returns the number of cuts.
fn cut_everywhere(old: Option<&[u8]>, stale: Option<&[u8]>, new: &[u8]) -> usize {
    let prepared = prepared(old, stale);
    let mut uncut = prepared.clone();
    update(&mut uncut, new, 200).unwrap();
    let (ops, mut tested) = (uncut.ops.clone(), 0);
    assert!(matches!(ops.last(), Some(Op::Program { len: 32, .. })), "the header is last");
    for (i, &op) in ops.iter().enumerate() {
        for cut in cuts(i + 1, op) {
            let mut flash = prepared.clone();
            flash.arm(cut);
            assert_eq!(update(&mut flash, new, 200), Err(StoreError::Flash(SimError::PowerLost)));
            assert!(flash.power_lost(), "{cut:?}");
            let booted = booted_blob(&mut flash);
            let header_cut = i + 1 == ops.len();
            let acceptable =
                booted.as_deref() == old || (header_cut && booted.as_deref() == Some(new));
            assert!(acceptable, "{cut:?} of {op:?}: booted {:?} bytes", booted.map(|b| b.len()));
            update(&mut flash, new, 200).unwrap();
            assert_eq!(booted_blob(&mut flash).as_deref(), Some(new), "after {cut:?}");
            assert_outside_untouched(&flash);
            tested += 1;
        }
    }
    tested
}

/// The model running before an update, the one in the slot it writes, and the new one.
type Case = (Option<&'static [u8]>, Option<&'static [u8]>, &'static [u8]);

#[test]
fn power_cut_at_every_operation_of_an_update() {
    let start = Instant::now();
    let cases: [Case; 5] = [
        (None, None, INT8),             // first update of an empty flash
        (Some(INT8), None, INT4),       // into an erased slot
        (Some(INT4), None, INT8),       // a longer blob
        (Some(INT8), Some(INT4), INT4), // over a valid older model
        (Some(INT4), Some(INT8), INT8),
    ];
    // A thread per case: they share nothing.
    let tested: usize = std::thread::scope(|scope| {
        let runs =
            cases.map(|(old, stale, new)| scope.spawn(move || cut_everywhere(old, stale, new)));
        runs.into_iter().map(|run| run.join().unwrap()).sum()
    });
    // Straight to stderr, which the test harness does not capture: every log shows the count.
    let seconds = start.elapsed().as_secs_f64();
    writeln!(std::io::stderr(), "power cuts tested: {tested} in {seconds:.1} s").unwrap();
    assert!(tested > 10_000);
}

#[test]
fn a_transfer_stopped_at_any_byte_keeps_the_old_model() {
    let prepared = prepared(Some(INT8), Some(INT8));
    for stop in 0..INT4.len() {
        let mut flash = prepared.clone();
        {
            let mut buf = vec![0; 8192];
            let mut store = Store::new(&mut flash, LAYOUT).unwrap();
            store.boot(&mut buf).unwrap();
            let mut update = store.begin_update(INT4.len()).unwrap();
            update.write(0, &INT4[..stop]).unwrap();
            assert_eq!(update.received(), stop);
        }
        assert_eq!(booted_blob(&mut flash).as_deref(), Some(INT8), "stopped at byte {stop}");
    }
}
