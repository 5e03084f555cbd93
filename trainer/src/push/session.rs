//! Stop and wait: each request goes out until the reply with its sequence number comes back,
//! or the tries run out. A resend is the same frame, which the device answers as it did the
//! first time, so a lost reply never makes it act twice.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use infer_core::link::{
    self, Frames, MAX_CHUNK, MAX_WIRE, Reason, Request, Response, Status, UNKNOWN_SEQUENCE,
};
use infer_core::store::Slot;

use super::transport::Port;
use super::{Payload, PushError, Step};

/// How hard to try each request.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// How long to wait for each reply.
    pub timeout: Duration,
    /// Resends after the first try.
    pub retries: u32,
}

/// A model the device made active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The slot it is in.
    pub slot: Slot,
    /// Its sequence number, one more at every update.
    pub sequence: u32,
    /// Its payload bytes.
    pub len: u32,
}

/// A device's reply, owned.
#[derive(Debug)]
enum Answer {
    Status(Status),
    Ack(u32),
    Committed(Committed),
    Refused { reason: Reason, expected: u32, message: String },
}

/// The longest wait between two looks at the stop request.
const POLL: Duration = Duration::from_millis(100);

/// A conversation with one device.
pub struct Session {
    port: Port,
    patience: Patience,
    /// Whether to stop now (Ctrl-C), asked while waiting.
    stop: fn() -> bool,
    frames: Frames,
    /// Bytes received but not yet decoded.
    inbox: VecDeque<u8>,
    sequence: u16,
}

impl Session {
    /// Talks over `port`, giving up as soon as `stop` says so; sequence numbers start at
    /// random, so that a request never matches the device's memory of a previous session's
    /// last frame.
    pub fn new(port: Port, patience: Patience, stop: fn() -> bool) -> Self {
        let (frames, inbox, sequence) = (Frames::new(), VecDeque::new(), rand::random());
        Self { port, patience, stop, frames, inbox, sequence }
    }

    /// The device's state.
    pub fn hello(&mut self) -> Result<Status, PushError> {
        match self.request(Step::Hello, &Request::Hello)? {
            Answer::Status(status) => Ok(status),
            other => Err(refused_or_unexpected(Step::Hello, other)),
        }
    }

    /// Starts the transfer of `payload`, or resumes it; returns the bytes the device already has.
    pub fn begin(&mut self, payload: &Payload) -> Result<u32, PushError> {
        let (len, crc) = (payload.size(), payload.crc());
        match self.request(Step::Begin, &Request::Begin { len, crc })? {
            Answer::Ack(received) if received <= len => Ok(received),
            other => Err(refused_or_unexpected(Step::Begin, other)),
        }
    }

    /// Sends the payload from byte `from` on, calling `progress` with the bytes the device has
    /// after each chunk.
    pub fn send(
        &mut self,
        payload: &Payload,
        from: u32,
        mut progress: impl FnMut(u32),
    ) -> Result<(), PushError> {
        let (bytes, len) = (payload.bytes(), payload.bytes().len());
        let mut offset = from as usize;
        while offset < len {
            let chunk = &bytes[offset..len.min(offset + MAX_CHUNK)];
            let data = Request::Data { offset: offset as u32, bytes: chunk };
            offset = next_offset(self.request(Step::Data, &data)?, offset, len)?;
            progress(offset as u32);
        }
        Ok(())
    }

    /// Asks the device to verify the payload and switch to it.
    pub fn commit(&mut self) -> Result<Committed, PushError> {
        match self.request(Step::Commit, &Request::Commit)? {
            Answer::Committed(committed) => Ok(committed),
            other => Err(refused_or_unexpected(Step::Commit, other)),
        }
    }

    /// Sends `request` until a reply comes: again after a timeout or a damaged-frame refusal.
    fn request(&mut self, step: Step, request: &Request<'_>) -> Result<Answer, PushError> {
        let sequence = self.next_sequence();
        let mut wire = [0; MAX_WIRE];
        let frame = link::encode_request(sequence, request, &mut wire);
        for _ in 0..=self.patience.retries {
            self.port.send(frame).map_err(|error| PushError::Io { step, error })?;
            match self.reply(step, sequence)? {
                Some(Answer::Refused { reason: Reason::BadFrame, .. }) | None => {}
                Some(answer) => return Ok(answer),
            }
        }
        let Patience { timeout, retries } = self.patience;
        Err(PushError::NoAnswer { step, tries: retries + 1, timeout })
    }

    /// Sequence numbers wrap around, skipping the one of replies to bad frames.
    fn next_sequence(&mut self) -> u16 {
        self.sequence = self.sequence.wrapping_add(1);
        if self.sequence == UNKNOWN_SEQUENCE {
            self.sequence = 0;
        }
        self.sequence
    }

    /// The reply to `sequence` (or to a bad frame), if one comes within the timeout. Replies to
    /// earlier requests, late after a resend, are skipped.
    fn reply(&mut self, step: Step, sequence: u16) -> Result<Option<Answer>, PushError> {
        let deadline = Instant::now() + self.patience.timeout;
        loop {
            while let Some(byte) = self.inbox.pop_front() {
                if let Some(answer) = self.decode(byte, sequence)? {
                    return Ok(Some(answer));
                }
            }
            if (self.stop)() {
                return Err(PushError::Interrupted { step });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let mut buf = [0; MAX_WIRE];
            match self.port.receive(&mut buf, left.min(POLL)) {
                Ok(Some(n)) => self.inbox.extend(&buf[..n]),
                Ok(None) => {}
                Err(error) => return Err(PushError::Io { step, error }),
            }
        }
    }

    /// Feeds one byte to the frame decoder; the answer when it ends a reply for `sequence`.
    /// A damaged reply counts as a lost one.
    fn decode(&mut self, byte: u8, sequence: u16) -> Result<Option<Answer>, PushError> {
        let Some(Ok(frame)) = self.frames.push(byte) else { return Ok(None) };
        let (echo, response) = link::parse_response(frame)
            .map_err(|reason| PushError::Protocol(format!("unreadable reply ({reason})")))?;
        let answer = Answer::from(response);
        let bad_frame = matches!(answer, Answer::Refused { reason: Reason::BadFrame, .. });
        let ours = echo == sequence || (echo == UNKNOWN_SEQUENCE && bad_frame);
        Ok(ours.then_some(answer))
    }
}

impl From<Response<'_>> for Answer {
    fn from(response: Response<'_>) -> Self {
        match response {
            Response::Status(status) => Self::Status(status),
            Response::Ack { received } => Self::Ack(received),
            Response::Committed { slot, sequence, len } => {
                Self::Committed(Committed { slot, sequence, len })
            }
            Response::Refused { reason, expected, message } => {
                Self::Refused { reason, expected, message: message.to_owned() }
            }
        }
    }
}

/// Where the next chunk starts after `answer` to the chunk at `offset`.
fn next_offset(answer: Answer, offset: usize, len: usize) -> Result<usize, PushError> {
    let (next, forward) = match answer {
        Answer::Ack(received) => (received as usize, true),
        // The device lost or already has some bytes: go on from where it is.
        Answer::Refused { reason: Reason::OutOfOrder, expected, .. } => (expected as usize, false),
        other => return Err(refused_or_unexpected(Step::Data, other)),
    };
    // Anything else would send the same chunk forever, or bytes past the end.
    if next > len || next == offset || (forward && next < offset) {
        let what = format!("a request for byte {next} of {len} after the chunk at {offset}");
        return Err(unexpected(Step::Data, &what));
    }
    Ok(next)
}

/// The error for an answer that does not fit `step`: the device's refusal, or a protocol error.
fn refused_or_unexpected(step: Step, answer: Answer) -> PushError {
    match answer {
        Answer::Refused { reason, message, .. } => PushError::Refused { reason, message },
        Answer::Status(_) => unexpected(step, "its status"),
        Answer::Ack(received) => unexpected(step, &format!("an ack of {received} bytes")),
        Answer::Committed(_) => unexpected(step, "a commit"),
    }
}

fn unexpected(step: Step, what: &str) -> PushError {
    PushError::Protocol(format!("the device answered {step} with {what}"))
}
