//! Advisory file locks (flock) that serialise writers across processes.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use super::LayoutStore;
use crate::store::{LockGuard, LockMode, StoreError, StoreLock};

impl LayoutStore {
    /// Lock `name` under `.imagectl/`, telling the user when we have to wait.
    pub(super) fn take_lock(&self, name: &str, mode: LockMode) -> Result<LockGuard, StoreError> {
        self.ensure_created()?;
        let path = self.private_dir().join(name);
        let file = open_lock_file(&path)?;
        let attempt = match mode {
            LockMode::Shared => file.try_lock_shared(),
            LockMode::Exclusive => file.try_lock(),
        };
        match attempt {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                eprintln!(
                    "waiting for another imagectl to finish with the store at {} (lock {})…",
                    self.root.display(),
                    path.display()
                );
                let res = match mode {
                    LockMode::Shared => file.lock_shared(),
                    LockMode::Exclusive => file.lock(),
                };
                res.map_err(|e| StoreError::io("locking", path.display().to_string(), e))?;
            }
            Err(TryLockError::Error(e)) => {
                return Err(StoreError::io("locking", path.display().to_string(), e));
            }
        }
        Ok(LockGuard::file(file))
    }
}

fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| StoreError::io("opening lock", path.display().to_string(), e))
}

impl StoreLock for LayoutStore {
    fn lock(&self, mode: LockMode) -> Result<LockGuard, StoreError> {
        self.take_lock("lock", mode)
    }
}
