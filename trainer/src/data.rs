//! MNIST in IDX format: finding the four files, reading them (gzip or raw) and validating
//! every header field against the data before trusting it.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::{panic, thread};

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};

/// Pixels per image: 28 x 28.
pub const PIXELS: usize = 28 * 28;
/// Digits 0-9.
pub const CLASSES: usize = 10;

/// The MNIST copy bundled with this repository: the default `--data-dir`.
pub fn bundled_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist")
}

/// Why a data set could not be loaded. Every variant names the file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A file is missing.
    #[error(
        "{file} not found in {dir} (nor .gz, nor under MNIST/raw/): pass --data-dir with the four \
         MNIST IDX files, or a torchvision data root"
    )]
    NotFound {
        /// The directory searched.
        dir: PathBuf,
        /// The canonical name of the missing file.
        file: &'static str,
    },
    /// The file could not be read or decompressed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS or the gzip decoder said.
        source: io::Error,
    },
    /// The file does not start with the IDX magic expected for it.
    #[error("{path}: not an IDX {kind} file (magic {found:#010x}, expected {expected:#010x})")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// "images" or "labels".
        kind: &'static str,
        /// The first four bytes, big-endian.
        found: u32,
        /// The magic for this kind.
        expected: u32,
    },
    /// The dimensions are not those of MNIST.
    #[error("{path}: dimensions {found:?}, expected {expected}")]
    BadDimensions {
        /// The file.
        path: PathBuf,
        /// The dimensions in the header.
        found: Vec<u32>,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// The data is shorter or longer than the header says.
    #[error("{path}: header promises {expected} bytes of data, the file holds {found}{more}", more = if *.found_is_lower_bound { " or more" } else { "" })]
    Length {
        /// The file.
        path: PathBuf,
        /// Bytes the dimensions call for.
        expected: u64,
        /// Bytes present.
        found: u64,
        /// `found` counts only what was read before stopping.
        found_is_lower_bound: bool,
    },
    /// A label is not a digit.
    #[error("{path}: label {label} at index {index} is not a digit 0-9")]
    BadLabel {
        /// The labels file.
        path: PathBuf,
        /// Position of the label.
        index: usize,
        /// The value found.
        label: u8,
    },
    /// Images and labels disagree on the number of examples.
    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels")]
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// Its count.
        image_count: usize,
        /// The labels file.
        labels: PathBuf,
        /// Its count.
        label_count: usize,
    },
}

/// Images and their labels.
#[derive(Debug, Clone)]
pub struct Split {
    /// `len * PIXELS` bytes, one row-major 28x28 image after another, 0 = background.
    pub images: Vec<u8>,
    /// One digit per image.
    pub labels: Vec<u8>,
}

impl Split {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of example `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        &self.images[index * PIXELS..][..PIXELS]
    }

    /// Reads and cross-checks an images file and a labels file.
    pub fn load(
        images_path: &Path,
        labels_path: &Path,
    ) -> Result<(Self, [FileDigest; 2]), DataError> {
        let images = read_idx(images_path, IdxKind::Images)?;
        let labels = read_idx(labels_path, IdxKind::Labels)?;
        let (image_count, label_count) = (images.count, labels.count);
        if image_count != label_count {
            return Err(DataError::CountMismatch {
                images: images_path.into(),
                image_count,
                labels: labels_path.into(),
                label_count,
            });
        }
        if let Some(index) = labels.data.iter().position(|&l| usize::from(l) >= CLASSES) {
            return Err(DataError::BadLabel {
                path: labels_path.into(),
                index,
                label: labels.data[index],
            });
        }
        let split = Split { images: images.data, labels: labels.data };
        Ok((split, [images.digest, labels.digest]))
    }
}

/// The SHA-256 of a file's decompressed contents, as in `SHA256SUMS.decompressed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// File name without `.gz`, e.g. `train-images-idx3-ubyte`.
    pub name: String,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// The MNIST training and test sets.
#[derive(Debug, Clone)]
pub struct Mnist {
    /// 60,000 examples in the canonical files.
    pub train: Split,
    /// 10,000 examples in the canonical files.
    pub test: Split,
    /// Digests of the four files, train images and labels then test images and labels.
    pub digests: [FileDigest; 4],
}

/// SHA-256 of the canonical decompressed files (LeCun et al.), to tell a user they have them.
const CANONICAL: [&str; 4] = [
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
];

impl Mnist {
    /// Loads the four files from `dir`, raw or `.gz`, or from torchvision's `dir/MNIST/raw/`.
    pub fn load(dir: &Path) -> Result<Self, DataError> {
        let [train_images, train_labels, test_images, test_labels] =
            FILES.map(|name| locate(dir, name));
        let (train_images, train_labels) = (train_images?, train_labels?);
        // The test files decompress on another thread while the training files do.
        let (train, test) = thread::scope(|scope| {
            let test = scope.spawn(|| Split::load(&test_images?, &test_labels?));
            let train = Split::load(&train_images, &train_labels);
            (train, test.join().unwrap_or_else(|panic| panic::resume_unwind(panic)))
        });
        let ((train, [a, b]), (test, [c, d])) = (train?, test?);
        Ok(Mnist { train, test, digests: [a, b, c, d] })
    }

    /// The training split alone, from `dir` as [`load`](Self::load) finds it: what int4
    /// quantization is calibrated on, without even reading the test files.
    pub fn load_training(dir: &Path) -> Result<Split, DataError> {
        let [images, labels] = [FILES[0], FILES[1]].map(|name| locate(dir, name));
        Ok(Split::load(&images?, &labels?)?.0)
    }

    /// The SHA-256 of each file by name, as the model metadata and checkpoints record them.
    pub fn sha256_by_name(&self) -> std::collections::BTreeMap<String, String> {
        self.digests.iter().map(|d| (d.name.clone(), d.sha256.clone())).collect()
    }

    /// Whether these are the canonical MNIST files, byte for byte.
    pub fn is_canonical(&self) -> bool {
        self.digests.iter().zip(CANONICAL).all(|(d, c)| d.sha256 == c)
    }
}

const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Finds `name` as distributed (`name`, `name.gz`), with the `.idx` spelling some mirrors use
/// (`train-images.idx3-ubyte`), in `dir` or torchvision's `dir/MNIST/raw`.
fn locate(dir: &Path, name: &'static str) -> Result<PathBuf, DataError> {
    let dotted = name.replacen("-idx", ".idx", 1);
    [dir.to_path_buf(), dir.join("MNIST").join("raw")]
        .iter()
        .flat_map(|d| {
            [name.to_string(), format!("{name}.gz"), dotted.clone(), format!("{dotted}.gz")]
                .map(|f| d.join(f))
        })
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::NotFound { dir: dir.into(), file: name })
}

/// Which of the two IDX layouts a file must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxKind {
    /// Images: magic `0x803`, dimensions `[count, 28, 28]`.
    Images,
    /// Labels: magic `0x801`, dimensions `[count]`.
    Labels,
}

/// One IDX file, read and checked against its header.
#[derive(Debug, Clone)]
pub struct Idx {
    /// Examples in the file: the header's first dimension.
    pub count: usize,
    /// Everything after the header: `count * PIXELS` pixels or `count` labels (not yet
    /// checked to be digits: [`Split::load`] does that).
    pub data: Vec<u8>,
    /// The file's name and the SHA-256 of its decompressed contents.
    pub digest: FileDigest,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Deflate never expands data more than this: a gzip file of `n` bytes holds at most
/// `n * MAX_DEFLATE_RATIO` bytes.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Reads an IDX file of unsigned bytes, gzip-compressed or not (told by its first bytes).
///
/// The header is checked before anything is allocated for the data, and the data is read
/// incrementally up to what the header promises, so a header claiming gigabytes in a small
/// file costs nothing.
fn read_idx(path: &Path, kind: IdxKind) -> Result<Idx, DataError> {
    let io_error = |source| DataError::Io { path: path.into(), source };
    let file = File::open(path).map_err(io_error)?;
    let file_len = file.metadata().map_err(io_error)?.len();
    parse(path, BufReader::new(file), kind, Some(file_len))
}

/// Parses an IDX file of unsigned bytes from any reader, gzip-compressed or not (told by its
/// first bytes), with the checks of reading it from a file; `path` names it in errors and in
/// the digest.
///
/// The size of the input is not known in advance, so the data is read incrementally up to
/// what the header promises: memory grows with the bytes actually present, never with what
/// the header claims.
pub fn parse_idx(path: &Path, reader: impl Read, kind: IdxKind) -> Result<Idx, DataError> {
    parse(path, BufReader::new(reader), kind, None)
}

/// [`parse_idx`]; `raw_len`, the input's size when known (a file), rejects an uncompressed
/// input of the wrong size before reading its data, with its exact size in the error.
fn parse<'r>(
    path: &Path,
    mut input: BufReader<impl Read + 'r>,
    kind: IdxKind,
    raw_len: Option<u64>,
) -> Result<Idx, DataError> {
    let io_error = |source| DataError::Io { path: path.into(), source };
    let mut first = [0u8; 2];
    let compressed = peek(&mut input, &mut first).map_err(io_error)? && first == GZIP_MAGIC;
    let mut reader: Box<dyn Read + 'r> =
        if compressed { Box::new(GzDecoder::new(input)) } else { Box::new(input) };

    let (magic, dims_expected, expected_dims): (u32, usize, &'static str) = match kind {
        IdxKind::Images => (0x0000_0803, 3, "[count, 28, 28]"),
        IdxKind::Labels => (0x0000_0801, 1, "[count]"),
    };
    let mut header = vec![0u8; 4 + 4 * dims_expected];
    read_header(&mut reader, &mut header[..4], path, 0)?;
    let found = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if found != magic {
        let kind = match kind {
            IdxKind::Images => "images",
            IdxKind::Labels => "labels",
        };
        return Err(DataError::BadMagic { path: path.into(), kind, found, expected: magic });
    }
    read_header(&mut reader, &mut header[4..], path, 4)?;
    let dims: Vec<u32> =
        header[4..].chunks_exact(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])).collect();
    if matches!(kind, IdxKind::Images) && dims[1..] != [28, 28] {
        return Err(DataError::BadDimensions {
            path: path.into(),
            found: dims,
            expected: expected_dims,
        });
    }
    let count = dims[0] as usize;
    let expected = dims.iter().map(|&d| u64::from(d)).product::<u64>();

    let header_len = header.len() as u64;
    if let Some(file_len) = raw_len.filter(|&len| !compressed && len != header_len + expected) {
        let found = file_len.saturating_sub(header_len);
        return Err(DataError::Length {
            path: path.into(),
            expected,
            found,
            found_is_lower_bound: false,
        });
    }
    // Room for all the data the input can hold, reserved at once where the address space
    // allows: growing the buffer as it fills would copy it and touch fresh memory repeatedly.
    let room = raw_len
        .map_or(0, |len| if compressed { len.saturating_mul(MAX_DEFLATE_RATIO) } else { len });
    let mut data = Vec::new();
    let _ = data.try_reserve_exact(usize::try_from(expected.min(room)).unwrap_or(usize::MAX));
    reader.by_ref().take(expected).read_to_end(&mut data).map_err(io_error)?;
    let extra = reader.read(&mut [0u8; 1]).map_err(io_error)?;
    if data.len() as u64 != expected || extra != 0 {
        let found = data.len() as u64 + extra as u64;
        return Err(DataError::Length {
            path: path.into(),
            expected,
            found,
            found_is_lower_bound: extra != 0,
        });
    }

    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let name = name.strip_suffix(".gz").unwrap_or(&name).to_string();
    let digest = FileDigest { name, sha256: sha256_hex(&header, &data) };
    Ok(Idx { count, data, digest })
}

fn read_header(
    reader: &mut dyn Read,
    buf: &mut [u8],
    path: &Path,
    offset: u64,
) -> Result<(), DataError> {
    reader.read_exact(buf).map_err(|source| match source.kind() {
        io::ErrorKind::UnexpectedEof => DataError::Length {
            path: path.into(),
            expected: offset + buf.len() as u64,
            found: offset,
            found_is_lower_bound: true,
        },
        _ => DataError::Io { path: path.into(), source },
    })
}

/// Fills `buf` from the start of the stream without consuming it; false if the file is shorter.
fn peek(file: &mut impl BufRead, buf: &mut [u8]) -> io::Result<bool> {
    let available = file.fill_buf()?;
    let n = buf.len().min(available.len());
    buf[..n].copy_from_slice(&available[..n]);
    Ok(n == buf.len())
}

fn sha256_hex(header: &[u8], data: &[u8]) -> String {
    crate::bytes::hex(&Sha256::new().chain_update(header).chain_update(data).finalize())
}
