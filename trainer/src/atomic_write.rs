//! Writing files all or nothing: staged under temporary names, synced, then renamed into place,
//! so an interrupted or failed run leaves the previous files intact.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file could not be staged or renamed into place.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct WriteError {
    /// The destination.
    pub path: PathBuf,
    /// What the OS said.
    pub source: io::Error,
}

/// Writes every file to a temporary name beside its destination, syncs it, and only then
/// renames them all into place: an interrupted or failed run leaves the previous files intact.
pub fn write_atomically(files: &[(PathBuf, Vec<u8>)]) -> Result<(), WriteError> {
    stage(files)?.commit()
}

/// Files written under temporary names, not yet in place: [`commit`](Staged::commit) renames
/// them into place; dropping them instead deletes them, leaving the destinations as they were.
#[must_use = "dropping staged files deletes them"]
pub struct Staged {
    renames: Vec<(PathBuf, PathBuf)>,
}

/// Writes and syncs every file under a temporary name beside its destination. On a failure
/// (full disk, unwritable directory) the files staged so far are deleted.
pub fn stage(files: &[(PathBuf, Vec<u8>)]) -> Result<Staged, WriteError> {
    let mut staged = Staged { renames: Vec::with_capacity(files.len()) };
    for (path, bytes) in files {
        let temp = temporary_name(path);
        staged.renames.push((temp.clone(), path.clone()));
        let write = || -> io::Result<()> {
            let mut file = File::create(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()
        };
        write().map_err(|source| WriteError { path: path.clone(), source })?;
    }
    Ok(staged)
}

impl Staged {
    /// Renames the files into place and syncs their directories, so the new names survive a
    /// power cut.
    pub fn commit(mut self) -> Result<(), WriteError> {
        let mut dirs = Vec::new();
        // Front to back; on an error, `drop` deletes the temporary files not yet renamed.
        while let Some((temp, path)) = self.renames.first() {
            fs::rename(temp, path).map_err(|source| WriteError { path: path.clone(), source })?;
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !dirs.contains(&dir.to_path_buf()) {
                dirs.push(dir.to_path_buf());
            }
            self.renames.remove(0);
        }
        for dir in dirs {
            // Not every platform can open a directory to sync it (Windows): best effort.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (temp, _) in &self.renames {
            let _ = fs::remove_file(temp);
        }
    }
}

fn temporary_name(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}
