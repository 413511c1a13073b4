//! Each writer's own temporary directory (`.imagectl/tmp/w-<pid>-<nanos>/` in the embedded
//! store, `$TMPDIR/imagectl-staging/w-…/` for a daemon's staging layout), held by an
//! exclusive lock on its `.lock` file for as long as the process lives. A writer that was
//! killed (SIGKILL, OOM, a reboot) leaves its directory behind with a lock nobody holds: the
//! next writer finds it and removes it, without waiting for `prune`, and never touches the
//! directory of a writer that is still running, whose lock it cannot take.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::store::StoreError;

/// This process's directory and the lock that keeps it.
pub struct WriterDir {
    pub path: PathBuf,
    _lock: fs::File,
}

impl WriterDir {
    /// Create this writer's directory under `tmp`, then remove what dead writers left.
    pub fn create(tmp: &Path) -> Result<Self, StoreError> {
        let io = |action, p: &Path, e| StoreError::io(action, p.display().to_string(), e);
        fs::create_dir_all(tmp).map_err(|e| io("creating", tmp, e))?;
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!("w-{}-{nanos}", std::process::id());
        // The lock is taken under a name reapers ignore and renamed into place held (flock
        // belongs to the file, not its name), then the directory is made: a reaper never
        // sees a writer's `.lock` unheld while the writer lives.
        let lock_path = tmp.join(format!("{name}.lock"));
        let pending = tempfile::Builder::new()
            .prefix("pending-")
            .tempfile_in(tmp)
            .map_err(|e| io("creating", tmp, e))?;
        pending
            .as_file()
            .lock()
            .map_err(|e| io("locking", pending.path(), e))?;
        let lock = pending
            .persist(&lock_path)
            .map_err(|e| io("creating", &lock_path, e.error))?;
        let path = tmp.join(&name);
        fs::create_dir(&path).map_err(|e| io("creating", &path, e))?;
        let dir = Self { path, _lock: lock };
        reap(tmp, Some(&name))?;
        Ok(dir)
    }
}

/// Remove every dead writer's directory under `tmp` (and, with `all_loose`, loose files of
/// older versions, which only the exclusive store lock makes safe to remove); returns the
/// bytes freed. `own` is never touched.
pub fn reap(tmp: &Path, own: Option<&str>) -> Result<u64, StoreError> {
    sweep(tmp, own, true)
}

/// What dead writers left under `tmp`, in bytes, without removing it.
pub fn leftovers(tmp: &Path) -> Result<u64, StoreError> {
    sweep(tmp, None, false)
}

fn sweep(tmp: &Path, own: Option<&str>, remove: bool) -> Result<u64, StoreError> {
    let entries = match fs::read_dir(tmp) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StoreError::io("reading", tmp.display().to_string(), e)),
    };
    let mut freed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(lock_name) = file_name.to_str().filter(|n| n.ends_with(".lock")) else {
            continue;
        };
        let name = lock_name.trim_end_matches(".lock");
        if Some(name) == own {
            continue;
        }
        let lock_path = entry.path();
        let Ok(lock) = fs::OpenOptions::new().write(true).open(&lock_path) else {
            continue;
        };
        // Held: its writer is alive. Taken: the writer is gone, and now nobody can start
        // using the directory while it is removed.
        if lock.try_lock().is_err() {
            continue;
        }
        let dir = tmp.join(name);
        freed += size_of(&dir);
        if remove {
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("removing", dir.display().to_string(), e)),
            }
            let _ = fs::remove_file(&lock_path);
        }
    }
    Ok(freed)
}

impl Drop for WriterDir {
    /// A writer that ends normally leaves nothing: its directory is empty by then (every
    /// temporary file was renamed into place or dropped).
    fn drop(&mut self) {
        if fs::remove_dir(&self.path).is_ok() {
            let mut lock = self.path.clone().into_os_string();
            lock.push(".lock");
            let _ = fs::remove_file(lock);
        }
    }
}

/// Bytes of the files under `dir`, at any depth (a staging layout nests its blobs).
fn size_of(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => size_of(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dead writer's directory goes (with its bytes counted); a live one's stays.
    #[test]
    fn dead_writers_are_reaped_live_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        let tmp = root.path().join("tmp");
        let live = WriterDir::create(&tmp).unwrap();
        fs::write(live.path.join("blob-1"), b"live").unwrap();
        // A dead writer: its lock file exists, old, and nobody holds it.
        let dead = tmp.join("w-1-1");
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join("blob-2"), vec![0u8; 1000]).unwrap();
        let lock = tmp.join("w-1-1.lock");
        fs::write(&lock, b"").unwrap();
        assert_eq!(leftovers(&tmp).unwrap(), 1000);
        assert_eq!(reap(&tmp, None).unwrap(), 1000);
        assert!(!dead.exists() && !lock.exists());
        assert!(live.path.join("blob-1").exists());
        assert_eq!(leftovers(&tmp).unwrap(), 0);
        // Ending normally leaves nothing behind.
        let own = live.path.clone();
        fs::remove_file(own.join("blob-1")).unwrap();
        drop(live);
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    }
}
