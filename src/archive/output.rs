//! The file `save -o` writes: a temporary file beside the target, renamed into place only
//! when complete, so no reader ever sees half an archive under the final name. The
//! temporary file is locked (flock) by its writer for as long as it lives: a save that was
//! killed leaves one behind with a lock nobody holds, and the next save into the same
//! directory removes it, never the file of a save that is still running.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const PREFIX: &str = ".imagectl-save-";

/// An archive being written to `target`.
pub struct OutputFile {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl OutputFile {
    /// Remove what killed saves left in `target`'s directory, then start this one.
    pub fn create(target: &Path) -> io::Result<Self> {
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        reap(dir);
        loop {
            let tmp = tempfile::Builder::new().prefix(PREFIX).tempfile_in(dir)?;
            // A reaper may have taken the lock of the new file before this writer did and
            // removed it: then the lock comes after the removal, on a file no longer
            // there, and another is made.
            tmp.as_file().lock()?;
            let still_there = fs::metadata(tmp.path())
                .map(|m| m.ino() == tmp.as_file().metadata().map(|f| f.ino()).unwrap_or(0))
                .unwrap_or(false);
            if still_there {
                return Ok(Self {
                    tmp,
                    target: target.to_path_buf(),
                });
            }
        }
    }

    /// The file, to write from its start.
    pub fn file_mut(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// Give the archive its final name (mode 0644, like any file a user writes; a temporary
    /// file is private). Not fsynced: like `docker save`, the archive's durability is the
    /// page cache's (an fsync doubled the time of a 1 GiB save here).
    pub fn persist(self) -> io::Result<()> {
        self.tmp
            .as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))?;
        self.tmp.persist(&self.target).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Remove every `.imagectl-save-*` file in `dir` whose writer is gone. Best effort: a file
/// that cannot be opened or removed is left for a later save.
fn reap(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        // Held: a save is writing it. Taken: its save is gone, and the lock is kept until
        // the file is removed, so a new writer that raced for it notices (see `create`).
        if file.try_lock().is_ok() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary file whose writer is gone is removed by the next save; a live one stays.
    #[test]
    fn dead_saves_are_reaped_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(".imagectl-save-dead");
        fs::write(&dead, b"partial").unwrap();
        let live = OutputFile::create(&dir.path().join("a.tar")).unwrap();
        assert!(!dead.exists());
        let _other = OutputFile::create(&dir.path().join("b.tar")).unwrap();
        assert!(live.tmp.path().exists(), "a running save's file is kept");
        live.persist().unwrap();
        assert!(dir.path().join("a.tar").exists());
    }
}
