//! Ed25519 keys for signed device blobs: generate, store and read them as PEM.
//!
//! Keys are PKCS#8 (private) and SPKI (public) PEM files, the formats of `openssl genpkey
//! -algorithm ed25519` and `openssl pkey -pubout`, so keys can come from an HSM or OpenSSL as
//! well as from `trainer keygen`.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::TryRngCore;
use rand::rngs::OsRng;

/// Why a key could not be made, written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Refusing to overwrite a key: the devices that trust it would reject everything new.
    #[error("{} already exists: not overwriting a key (choose another --out, or delete it)", path.display())]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// The file is not a PEM Ed25519 key of the expected kind.
    #[error("{} is not an Ed25519 {kind} key in PEM ({reason})", path.display())]
    NotAKey {
        /// The file.
        path: PathBuf,
        /// `private` (PKCS#8) or `public` (SPKI).
        kind: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// The operating system's random number generator failed.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// A fresh key from the operating system's random number generator.
pub fn generate() -> Result<SigningKey, KeyError> {
    let mut seed = [0u8; 32];
    OsRng.try_fill_bytes(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The public key file that goes with private key `path`: `key.pem` -> `key.pub.pem`.
pub fn public_key_path(path: &Path) -> PathBuf {
    path.with_extension("pub.pem")
}

/// Writes the private key to `path` (owner-only permissions, creating its directory) and the
/// public key next to it ([`public_key_path`]). Refuses to overwrite either.
pub fn write_key_pair(key: &SigningKey, path: &Path) -> Result<PathBuf, KeyError> {
    let public_path = public_key_path(path);
    for existing in [path, &public_path] {
        if existing.exists() {
            return Err(KeyError::Exists { path: existing.to_path_buf() });
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|source| KeyError::Io { path: dir.into(), source })?;
    }
    let private_pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| encoding(path, "private", e))?;
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| encoding(&public_path, "public", e))?;
    create_new(path, private_pem.as_bytes(), 0o600)?;
    create_new(&public_path, public_pem.as_bytes(), 0o644).inspect_err(|_| {
        let _ = fs::remove_file(path); // a pair or nothing
    })?;
    Ok(public_path)
}

/// Reads a PKCS#8 PEM private key.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let pem = read(path)?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| encoding(path, "private", e))
}

/// Reads an SPKI PEM public key.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let pem = read(path)?;
    VerifyingKey::from_public_key_pem(&pem).map_err(|e| encoding(path, "public", e))
}

fn read(path: &Path) -> Result<String, KeyError> {
    fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.into(), source })
}

fn encoding(path: &Path, kind: &'static str, error: impl ToString) -> KeyError {
    KeyError::NotAKey { path: path.into(), kind, reason: error.to_string() }
}

/// Creates `path` (failing if it exists) with `mode` on Unix and writes `bytes` to it; removes
/// it again if writing fails, so no half-written key is left.
fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let io = |source| KeyError::Io { path: path.into(), source };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(io)?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io).inspect_err(|_| {
        let _ = fs::remove_file(path);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_pair_round_trips_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/k.pem");
        let key = generate().unwrap();
        let public_path = write_key_pair(&key, &path).unwrap();
        assert_eq!(public_path, dir.path().join("keys/k.pub.pem"));
        assert_eq!(read_signing_key(&path).unwrap().to_bytes(), key.to_bytes());
        assert_eq!(read_public_key(&public_path).unwrap(), key.verifying_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(matches!(
            write_key_pair(&generate().unwrap(), &path),
            Err(KeyError::Exists { .. })
        ));
        assert_eq!(read_signing_key(&path).unwrap().to_bytes(), key.to_bytes());
        assert_ne!(generate().unwrap().to_bytes(), key.to_bytes());
    }

    #[test]
    fn wrong_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        write_key_pair(&generate().unwrap(), &path).unwrap();
        // A public key is not a private key, and the reverse.
        let public = public_key_path(&path);
        assert!(matches!(
            read_signing_key(&public),
            Err(KeyError::NotAKey { kind: "private", .. })
        ));
        assert!(matches!(read_public_key(&path), Err(KeyError::NotAKey { kind: "public", .. })));
        let missing = dir.path().join("missing.pem");
        assert!(matches!(read_signing_key(&missing), Err(KeyError::Io { .. })));
    }
}
