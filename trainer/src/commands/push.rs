//! `trainer push`: send a model to a device over its update link and make it the one it runs.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use infer_core::link::Status;
use infer_core::store::Slot;
use trainer::push::{Committed, Patience, Payload, Port, PortSpec, PushError, Session};

use crate::commands::Output;
use crate::exit::InvalidInput;
use crate::interrupt;

/// Options of `trainer push`.
#[derive(clap::Args)]
pub struct Args {
    /// The model: a `.postcard` blob or a `.signed` envelope.
    pub file: PathBuf,
    /// The device: HOST:PORT or tcp://HOST:PORT, or a serial port (/dev/ttyUSB0, COM3).
    #[arg(long, value_name = "PORT")]
    pub port: PortSpec,
    /// Serial line speed.
    #[arg(long, value_name = "BAUD", default_value_t = 115_200)]
    pub baud: u32,
    /// Seconds to wait for each reply (and for a TCP connection) before sending again.
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = seconds)]
    pub timeout: Duration,
    /// Times to resend a frame that got no reply before giving up.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retries: u32,
}

pub fn run(args: &Args, output: Output) -> anyhow::Result<()> {
    let payload = read_payload(args)?;
    let port = Port::open(&args.port, args.baud, args.timeout)
        .map_err(|error| PushError::Open { port: args.port.to_string(), error })?;
    let patience = Patience { timeout: args.timeout, retries: args.retries };
    let mut session = Session::new(port, patience, interrupt::requested);
    let talk = !(output.quiet || output.json);
    // A closed stdout does not stop the push: only the final report needs it.
    let say = |line: String| {
        if talk {
            let _ = writeln!(io::stdout(), "{line}");
        }
    };
    say(describe_payload(&payload));
    say(describe_status(&session.hello()?));
    let received = session.begin(&payload)?;
    if received > 0 {
        say(format!("resuming at byte {received} of {}", payload.size()));
    }
    send(&mut session, &payload, received, talk)?;
    let committed = session.commit()?;
    report(&mut io::stdout().lock(), &committed, received, output)
}

/// The file, if it is something a device takes.
fn read_payload(args: &Args) -> anyhow::Result<Payload> {
    let path = args.file.display();
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {path}"))?;
    Payload::new(bytes).map_err(|error| {
        let text = format!("{path} is not a model blob or signed envelope ({error}): nothing sent");
        InvalidInput(text).into()
    })
}

/// The payload from `from` on, with a progress bar on a terminal.
fn send(session: &mut Session, payload: &Payload, from: u32, talk: bool) -> anyhow::Result<()> {
    let bar = if talk && io::stderr().is_terminal() {
        ProgressBar::new(payload.size().into())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:32}] {bytes}/{total_bytes}")?
            .progress_chars("=> "),
    );
    bar.set_position(from.into());
    session.send(payload, from, |received| bar.set_position(received.into()))?;
    bar.finish_and_clear();
    Ok(())
}

fn describe_payload(payload: &Payload) -> String {
    let kind = match payload.counter() {
        Some(counter) => format!("signed envelope, counter {counter}"),
        None => "plain blob".to_owned(),
    };
    format!("model: {} bytes, {kind}", payload.size())
}

fn describe_status(status: &Status) -> String {
    let signatures = if status.signed { "signed only" } else { "signed or plain" };
    let model = match status.active_sequence {
        0 => "its compiled-in model".to_owned(),
        n => format!("model sequence {n} ({} bytes)", status.active_len),
    };
    format!("device: takes models up to {} bytes, {signatures}; runs {model}", status.capacity)
}

fn report(
    out: &mut impl Write,
    committed: &Committed,
    resumed_at: u32,
    output: Output,
) -> anyhow::Result<()> {
    let Committed { slot, sequence, len } = *committed;
    let slot = match slot {
        Slot::A => "A",
        Slot::B => "B",
    };
    if output.json {
        let json = serde_json::json!({
            "slot": slot, "sequence": sequence, "bytes": len, "resumed_at": resumed_at,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    } else {
        writeln!(out, "device runs the new model: slot {slot}, sequence {sequence}, {len} bytes")?;
    }
    Ok(())
}

/// `--timeout`: positive seconds, fractions allowed.
fn seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| format!("{text} s is not a positive time"))
}
