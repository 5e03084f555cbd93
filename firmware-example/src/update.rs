//! Field updates (feature `update`): the device runs the newest valid model of a two-slot store
//! on flash, else its compiled-in one, and takes new models over UART0 through infer-core's
//! update link; a model runs as soon as its update commits.

use infer_core::link::Device;
use infer_core::store::{Active, Layout, Store};

use crate::board::hprintln;
use crate::board::uart::Uart;
use crate::flash::{self, Flash};
use crate::infer::Model;
use crate::measure::InstructionCounter;
use crate::{Aligned, evaluate, weights};

/// Bytes of a slot: half the flash, 32 KiB, room for the f32 reference model (31436 bytes)
/// after the slot's header.
const SLOT_SIZE: usize = flash::CAPACITY / 2;
const LAYOUT: Layout = Layout { start: 0, slot_size: SLOT_SIZE as u32 };
/// The log shows the transfer's progress every this many bytes received.
const PROGRESS_EVERY: usize = 4096;

/// Boots a model and serves the link until the process ends; returns (false) only if the
/// flash or the booted model cannot be used.
pub fn serve(mut counter: InstructionCounter) -> bool {
    let Some(mut store) = open_store() else { return false };
    #[cfg(feature = "signed")]
    store.require_signature(weights::PUBLIC_KEY, weights::SECURITY_COUNTER);
    // The booted blob, aligned as the kernels need it; and where an update is read back.
    let mut blob = Aligned([0; SLOT_SIZE]);
    let mut scratch = [0; SLOT_SIZE];
    if !boot(&mut store, &mut blob.0, &mut counter) {
        return false;
    }
    let mut device = Device::new(&mut store, &mut scratch);
    let mut uart = Uart::new();
    hprintln!("link: serving on UART0");
    let mut received = 0usize;
    loop {
        let byte = uart.read();
        received += 1;
        if received.is_multiple_of(PROGRESS_EVERY) {
            hprintln!("link: {} bytes received", received);
        }
        let Some(reply) = device.receive(byte) else { continue };
        uart.write(reply.bytes);
        if let Some(reason) = reply.refused {
            hprintln!("update: refused: {}", reason);
        }
        if let Some(active) = reply.committed {
            report_commit(&active);
            if !boot(device.store(), &mut blob.0, &mut counter) {
                return false;
            }
        }
    }
}

/// The store on `flash.bin`; `None`, said why, if it cannot be used.
fn open_store() -> Option<Store<Flash>> {
    let flash = Flash::open().map_err(|error| hprintln!("error: flash: {}", error)).ok()?;
    Store::new(flash, LAYOUT).map_err(|error| hprintln!("error: store: {}", error)).ok()
}

/// Logs a commit, with the flash operations it took (a demo cuts the power in one of them).
fn report_commit(active: &Active) {
    let (erases, programs) = flash::operations();
    hprintln!(
        "update: slot {:?}, sequence {}, {} bytes committed (flash since boot: erases {}, programs {})",
        active.slot,
        active.sequence,
        active.len,
        erases,
        programs
    );
}

/// Runs the store's newest valid model, else the compiled-in one, on the embedded images and
/// reports which and its logits digest; false if neither can run.
fn boot(store: &mut Store<Flash>, buf: &mut [u8], counter: &mut InstructionCounter) -> bool {
    let (model, active) = match store.boot(buf) {
        Ok(Some(booted)) => (Model::from_blob(booted.blob), Some(booted.active)),
        Ok(None) => (weights::compiled_in(), None),
        Err(error) => {
            hprintln!("error: store: {}", error);
            return false;
        }
    };
    let model = match model {
        Ok(model) => model,
        Err(error) => {
            hprintln!("error: model refused: {}", error);
            return false;
        }
    };
    let Some((_, digest)) = evaluate(&model, counter) else { return false };
    let scheme = model.scheme();
    match active {
        Some(Active { slot, sequence, .. }) => hprintln!(
            "model: slot {:?}, sequence {}, {:?}, logits digest {:#010x}",
            slot,
            sequence,
            scheme,
            digest
        ),
        None => hprintln!("model: compiled-in, {:?}, logits digest {:#010x}", scheme, digest),
    }
    true
}
