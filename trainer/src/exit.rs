//! Exit statuses, after BSD's sysexits: each error type says which one it stands for.

use std::error::Error;
use std::io;
use std::process::ExitCode;

use trainer::data::DataError;
use trainer::digit::DigitError;
use trainer::eval::{EvalError, ShapeMismatch};
use trainer::model::ModelError;
use trainer::plot::PlotError;
use trainer::push::PushError;
use trainer::safetensors_file::FileError;
use trainer::signing::KeyError;

use crate::interrupt::Interrupted;

/// How a command ended, worst last: of the causes of an error, the worst decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 1: any other failure (e.g. training diverged).
    Failure,
    /// 65 (EX_DATAERR): a model, data, picture or key that cannot be used, or a model a device
    /// refused.
    InvalidInput,
    /// 69 (EX_UNAVAILABLE): a device's port cannot be opened, or the device does not answer.
    Unavailable,
    /// 76 (EX_PROTOCOL): a device's reply breaks the update protocol.
    Protocol,
    /// 74 (EX_IOERR): reading or writing failed (e.g. disk full).
    Io,
    /// 0, quietly: stdout was closed early (`| head`), as Unix tools end then.
    ClosedOutput,
    /// 130: as a shell reports a process stopped by Ctrl-C.
    Interrupted,
}

impl Exit {
    /// The status for a failed command.
    pub fn of(error: &anyhow::Error) -> Self {
        error.chain().filter_map(status).max().unwrap_or(Self::Failure)
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(match exit {
            Exit::ClosedOutput => 0,
            Exit::Failure => 1,
            Exit::InvalidInput => 65,
            Exit::Unavailable => 69,
            Exit::Protocol => 76,
            Exit::Io => 74,
            Exit::Interrupted => 130,
        })
    }
}

/// An error that stands for an exit status.
pub trait ExitStatus: Error + 'static {
    /// The status a command ends with when this is a cause of its error.
    fn exit_status(&self) -> Exit;
}

impl ExitStatus for Interrupted {
    fn exit_status(&self) -> Exit {
        Exit::Interrupted
    }
}

impl ExitStatus for io::Error {
    fn exit_status(&self) -> Exit {
        if self.kind() == io::ErrorKind::BrokenPipe { Exit::ClosedOutput } else { Exit::Io }
    }
}

impl ExitStatus for PushError {
    fn exit_status(&self) -> Exit {
        match self {
            PushError::Open { .. } | PushError::NoAnswer { .. } => Exit::Unavailable,
            PushError::Refused { .. } => Exit::InvalidInput,
            PushError::Protocol(_) => Exit::Protocol,
            PushError::Io { .. } => Exit::Io,
            PushError::Interrupted { .. } => Exit::Interrupted,
        }
    }
}

/// The status of `cause` if its type is `E`.
fn status_of<E: ExitStatus>(cause: &(dyn Error + 'static)) -> Option<Exit> {
    cause.downcast_ref::<E>().map(E::exit_status)
}

/// Errors about what the user gave (a model, data, picture or key) stand for
/// [`Exit::InvalidInput`]; their I/O failures carry an [`io::Error`], which is worse. `status`
/// knows these and the types above: every error type with an exit status.
macro_rules! invalid_input {
    ($($error:ty),* $(,)?) => {
        $(impl ExitStatus for $error {
            fn exit_status(&self) -> Exit {
                Exit::InvalidInput
            }
        })*

        /// The status `cause` stands for, if its type has one.
        fn status(cause: &(dyn Error + 'static)) -> Option<Exit> {
            status_of::<Interrupted>(cause)
                .or_else(|| status_of::<io::Error>(cause))
                .or_else(|| status_of::<PushError>(cause))
                $(.or_else(|| status_of::<$error>(cause)))*
        }
    };
}

invalid_input!(
    InvalidInput,
    DataError,
    DigitError,
    EvalError,
    FileError,
    KeyError,
    ModelError,
    PlotError,
    ShapeMismatch,
    infer_core::Error,
);

/// An input the user gave that cannot be used, in words.
#[derive(Debug)]
pub struct InvalidInput(pub String);

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for InvalidInput {}
