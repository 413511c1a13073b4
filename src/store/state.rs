//! imagectl's own documents beside a daemon's images (a Docker Engine, containerd): which
//! registry digest each name it loaded came from (a daemon records none for loaded images,
//! or its own conversion's digest), and the replication ledger.
//!
//! They live in `$IMAGECTL_STATE_DIR`, else `$XDG_STATE_HOME/imagectl`
//! (`~/.local/state/imagectl`), under `<kind>/<daemon ID>/` (`docker/<Engine ID>`,
//! `containerd/<UUID>-<namespace>`): the ID belongs to the daemon's data root, so two
//! daemons on one host never share records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::oci::{Digest, Reference};
use crate::store::{LockGuard, LockMode, StoreError};

/// The sources document's name.
pub const SOURCES: &str = "sources.json";

/// The directory for a daemon's documents (`kind`: `docker`, `containerd`).
pub fn dir_for(kind: &str, daemon_id: &str) -> Result<PathBuf, StoreError> {
    let base = match std::env::var_os("IMAGECTL_STATE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => dirs::state_dir()
            .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
            .ok_or_else(|| {
                StoreError::Daemon(
                    "no state directory is known for this user: set IMAGECTL_STATE_DIR".into(),
                )
            })?
            .join("imagectl"),
    };
    let safe: String = daemon_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(base.join(kind).join(safe))
}

/// Read a document; `None` if never written.
pub fn read(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io("reading", path.display().to_string(), e)),
    }
}

/// Replace a document atomically.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let path = dir.join(name);
    let io = |action, e| StoreError::io(action, path.display().to_string(), e);
    std::fs::create_dir_all(dir).map_err(|e| io("creating", e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io("writing", e))?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(|e| io("writing", e))?;
    tmp.as_file().sync_all().map_err(|e| io("syncing", e))?;
    tmp.persist(&path).map_err(|e| io("replacing", e.error))?;
    Ok(())
}

/// One name's record: the Engine image it was given to and the registry digest it came from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// The Engine's image ID when imagectl named it.
    pub image: Digest,
    /// The registry's manifest (or index) digest.
    pub source: Digest,
    /// When imagectl loaded it.
    pub at: Timestamp,
}

/// Every name's record.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Sources {
    version: u32,
    names: BTreeMap<Reference, Record>,
}

impl Sources {
    /// Parse the document; an unreadable one is ignored (the next pull re-checks with a
    /// GET rather than trusting it) with a warning.
    pub fn parse(bytes: Option<Vec<u8>>) -> Self {
        match bytes.map(|b| serde_json::from_slice::<Sources>(&b)) {
            Some(Ok(s)) if s.version == 1 => s,
            Some(_) => {
                tracing::warn!("ignoring an unreadable {SOURCES}: tags will be checked again");
                Self::default()
            }
            None => Self::default(),
        }
    }

    /// The record for `name` if it still describes the image `image` (a name moved by
    /// anyone else no longer has one).
    pub fn for_name(&self, name: &Reference, image: &Digest) -> Option<&Record> {
        self.names.get(name).filter(|r| &r.image == image)
    }

    /// Record `name` as `image`, loaded from `source`.
    pub fn set(&mut self, name: Reference, image: Digest, source: Digest) {
        self.names.insert(
            name,
            Record {
                image,
                source,
                at: Timestamp::now(),
            },
        );
    }

    /// Drop records whose name no longer points at their image.
    pub fn retain_current(&mut self, current: &BTreeMap<Reference, Digest>) {
        self.names.retain(|n, r| current.get(n) == Some(&r.image));
    }

    /// The document's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let doc = Self {
            version: 1,
            names: self.names.clone(),
        };
        let mut b = serde_json::to_vec_pretty(&doc).expect("serialisable");
        b.push(b'\n');
        b
    }
}

/// imagectl's writer lock for a daemon's documents: the daemon serialises its own changes,
/// the documents beside it need a lock of their own.
pub async fn lock(dir: &Path, mode: LockMode) -> Result<LockGuard, StoreError> {
    let dir = dir.to_path_buf();
    let path = dir.join("lock");
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError::io("creating", dir.display().to_string(), e))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io("opening", path.display().to_string(), e))?;
        match mode {
            LockMode::Shared => file.lock_shared(),
            LockMode::Exclusive => file.lock(),
        }
        .map_err(|e| StoreError::io("locking", path.display().to_string(), e))?;
        Ok(LockGuard::file(file))
    })
    .await
    .expect("lock task panicked")
}
