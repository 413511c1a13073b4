//! One `imagectl run` per store: a lock file in the store's state directory, holding the
//! holder's identity so a second daemon can say who is in the way. Separate from the
//! store's writer lock, which every command takes for each change and releases.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Held while the daemon lives; released by the kernel if it dies.
pub(super) struct RunLock {
    _file: File,
}

/// The lock file of the daemon of the store whose state lives in `state_dir`.
pub(super) fn lock_path(state_dir: &Path) -> PathBuf {
    state_dir.join("run.lock")
}

/// Take the lock or say who holds it.
pub(super) fn acquire(state_dir: &Path, location: &str) -> Result<RunLock> {
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating the state directory {}", state_dir.display()))?;
    let path = lock_path(state_dir);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = read_holder(&mut file).unwrap_or_else(|| "unknown".into());
            bail!(
                "another `imagectl run` ({holder}) already keeps the store at {location}: stop it first, or point this one at another store"
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    let me = format!(
        "pid {} on {} since {}",
        std::process::id(),
        hostname(),
        jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_default()
    );
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(me.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(RunLock { _file: file })
}

/// Who holds the lock, if someone does (for `status`).
pub(super) fn holder(state_dir: &Path) -> Option<String> {
    let mut file = File::open(lock_path(state_dir)).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(_) => read_holder(&mut file),
    }
}

fn read_holder(file: &mut File) -> Option<String> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(256).read_to_string(&mut text).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// This host's name, for messages.
pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "an unnamed host".into())
}

/// What identifies this host across restarts: the machine ID (systemd, dbus), else the
/// host name (a pod's name in a DaemonSet).
pub(super) fn machine_id() -> String {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(hostname)
}
