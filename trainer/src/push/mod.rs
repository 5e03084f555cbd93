//! Sending a model to a device over its update link (`infer_core::link`): check the file,
//! open the port, ask the device's status, start or resume the transfer, send the payload in
//! chunks, commit. The device verifies everything again and decides; until it commits, it runs
//! its previous model.

mod payload;
mod session;
mod transport;

use std::fmt;
use std::io;
use std::time::Duration;

use infer_core::link::Reason;

pub use payload::Payload;
pub use session::{Committed, Patience, Session};
pub use transport::{Port, PortSpec};

/// A request of the update protocol, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Asking the status.
    Hello,
    /// Starting or resuming the transfer.
    Begin,
    /// Sending the payload.
    Data,
    /// Switching to the new model.
    Commit,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Why a push failed. Link I/O errors are not `source`s: a broken pipe here is a lost device,
/// not a closed stdout.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The port could not be opened: no such device, no permission, nobody listening.
    #[error("cannot open {port}: {error}")]
    Open {
        /// The port, as given.
        port: String,
        /// Why.
        error: io::Error,
    },
    /// No reply, or only damaged ones, to every try of a request.
    #[error(
        "the device did not answer {step} ({tries} tries, {} s each){}",
        timeout.as_secs_f64(),
        if *step == Step::Hello { CHECK_THE_PORT } else { outcome(*step) }
    )]
    NoAnswer {
        /// The request.
        step: Step,
        /// Times it was sent.
        tries: u32,
        /// The wait for each reply.
        timeout: Duration,
    },
    /// The device refused a request, and said why.
    #[error("device refused the model: {message} ({reason}); it still runs its previous model")]
    Refused {
        /// Why, as a code.
        reason: Reason,
        /// Why, in the device's words.
        message: String,
    },
    /// A reply that makes no sense at this point of the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Stopped on request (Ctrl-C).
    #[error("interrupted during {step}{}", outcome(*step))]
    Interrupted {
        /// The request being made.
        step: Step,
    },
    /// Sending or receiving failed, or the device closed the connection.
    #[error("the link to the device failed during {step}: {error}{}", outcome(*step))]
    Io {
        /// The request being made.
        step: Step,
        /// Why.
        error: io::Error,
    },
}

/// Why a device may not answer at all.
const CHECK_THE_PORT: &str =
    "; check the port, the baud rate and that the device listens for updates";

/// What a failure during `step` leaves on the device.
fn outcome(step: Step) -> &'static str {
    match step {
        Step::Hello => "",
        Step::Begin => "; the device still runs its previous model",
        Step::Data => {
            "; the device still runs its previous model, and pushing the same file again \
             resumes the transfer (unless the device restarted: then it starts over)"
        }
        Step::Commit => "; the device may or may not run the new model now",
    }
}
