//! Choosing where candle runs: `cpu`, `cuda[:N]` or `auto`.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;

/// A device as the user names it on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA device 0 when this build has CUDA and a GPU is present, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device N.
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| format!("`{s}` is not a device: use cpu, cuda, cuda:N or auto")),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Why the requested device cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// CUDA was asked for but this binary was built without it.
    #[error(
        "this trainer was built without CUDA: rebuild with `--features cuda` (see the README), or use --device cpu"
    )]
    NotBuiltWithCuda,
    /// CUDA is built in but the device could not be opened.
    #[error("cannot open CUDA device {index}: {source}")]
    Cuda {
        /// The device index.
        index: usize,
        /// What candle/CUDA said.
        source: candle_core::Error,
    },
}

impl DeviceChoice {
    /// Opens the device. `Auto` falls back to the CPU when CUDA is absent or unusable.
    pub fn open(self) -> Result<Device, DeviceError> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(_) if !candle_core::utils::cuda_is_available() => {
                Err(DeviceError::NotBuiltWithCuda)
            }
            Self::Cuda(index) => {
                Device::new_cuda(index).map_err(|source| DeviceError::Cuda { index, source })
            }
            Self::Auto if candle_core::utils::cuda_is_available() => {
                Ok(Device::new_cuda(0).unwrap_or(Device::Cpu))
            }
            Self::Auto => Ok(Device::Cpu),
        }
    }
}

/// A short name for a device, for logs and metadata.
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda".into(),
        Device::Metal(_) => "metal".into(),
    }
}
