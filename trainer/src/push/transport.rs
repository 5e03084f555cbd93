//! The byte link to a device: a TCP connection (a simulator, or a board behind a network
//! bridge) or a serial port, read with a deadline so that a lost reply cannot hang the host.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serialport::{ClearBuffer, SerialPort};

/// Where a device is, as `--port` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// `HOST:PORT`, given as is or as `tcp://HOST:PORT`.
    Tcp(String),
    /// A serial device: a path (`/dev/ttyUSB0`) or a Windows `COMn` name.
    Serial(PathBuf),
}

impl FromStr for PortSpec {
    type Err = String;

    /// `tcp://` or no path separator means TCP; a path or `COMn`, a serial port.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(address) = text.strip_prefix("tcp://") {
            return tcp(address);
        }
        if text.contains(['/', '\\']) || is_com_port(text) {
            return Ok(Self::Serial(text.into()));
        }
        tcp(text)
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(address) => write!(f, "tcp://{address}"),
            Self::Serial(path) => write!(f, "{}", path.display()),
        }
    }
}

fn tcp(address: &str) -> Result<PortSpec, String> {
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(PortSpec::Tcp(address.to_owned()))
        }
        _ => Err(format!("{address:?} is neither HOST:PORT nor the path of a serial device")),
    }
}

fn is_com_port(text: &str) -> bool {
    let upper = text.to_ascii_uppercase();
    upper
        .strip_prefix("COM")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// An open link to a device.
pub enum Port {
    /// A TCP connection, Nagle off: every frame waits for its reply, so none may linger.
    Tcp(TcpStream),
    /// A serial port, 8 data bits, no parity, one stop bit.
    Serial(Box<dyn SerialPort>),
}

impl Port {
    /// Connects to `spec` (`baud` is for serial ports), waiting up to `timeout` for a TCP
    /// connection.
    pub fn open(spec: &PortSpec, baud: u32, timeout: Duration) -> io::Result<Self> {
        match spec {
            PortSpec::Tcp(address) => connect(address, timeout).map(Self::Tcp),
            PortSpec::Serial(path) => {
                let port = serialport::new(path.to_string_lossy(), baud).timeout(timeout).open()?;
                // What the device printed before (a boot log) is no reply.
                port.clear(ClearBuffer::Input)?;
                Ok(Self::Serial(port))
            }
        }
    }

    /// Sends `bytes`, all of them.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Tcp(stream) => stream.write_all(bytes),
            Self::Serial(port) => port.write_all(bytes).and_then(|()| port.flush()),
        }
    }

    /// Reads what has arrived into `buf`, waiting up to `timeout` for the first byte; `None`
    /// when nothing came (or a signal came first). A closed connection is an error.
    pub fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        use io::ErrorKind::{Interrupted, TimedOut, UnexpectedEof, WouldBlock};
        // A zero timeout means "block forever" to both kinds of port.
        let timeout = timeout.max(Duration::from_millis(1));
        let read = match self {
            Self::Tcp(stream) => {
                stream.set_read_timeout(Some(timeout)).and_then(|()| stream.read(buf))
            }
            Self::Serial(port) => {
                port.set_timeout(timeout).map_err(io::Error::from).and_then(|()| port.read(buf))
            }
        };
        match read {
            Ok(0) => Err(io::Error::new(UnexpectedEof, "the device closed the connection")),
            Ok(n) => Ok(Some(n)),
            // A signal (Ctrl-C) cuts a wait short: the caller looks at it and waits again.
            Err(e) if matches!(e.kind(), WouldBlock | TimedOut | Interrupted) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The first address of `address` that accepts a connection within `timeout`.
fn connect(address: &str, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{address} has no address"));
    for candidate in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&candidate, timeout) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(error) => last = error,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_addresses_and_serial_paths_are_told_apart() {
        let tcp = |s: &str| Ok(PortSpec::Tcp(s.into()));
        assert_eq!("127.0.0.1:4321".parse(), tcp("127.0.0.1:4321"));
        assert_eq!("localhost:4321".parse(), tcp("localhost:4321"));
        assert_eq!("tcp://board.local:80".parse(), tcp("board.local:80"));
        assert_eq!("[::1]:9".parse(), tcp("[::1]:9"));
        assert_eq!("/dev/ttyUSB0".parse(), Ok(PortSpec::Serial("/dev/ttyUSB0".into())));
        assert_eq!("COM3".parse(), Ok(PortSpec::Serial("COM3".into())));
        for bad in ["ttyUSB0", "localhost", "host:port", ":4321", "tcp://x", "host:70000"] {
            assert!(bad.parse::<PortSpec>().is_err(), "{bad}");
        }
    }
}
