//! The embedded store: an OCI image layout directory (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) that skopeo, umoci and crane read as-is. imagectl's private state
//! (locks, temporary files) lives under `.imagectl/`, which other tools ignore.

mod blobs;
mod index;
mod lock;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::scratch;
use super::{Store, StoreError};

const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_CONTENT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
const INDEX_FILE: &str = "index.json";
const PRIVATE_DIR: &str = ".imagectl";

/// An OCI image layout on the local filesystem.
pub struct LayoutStore {
    root: PathBuf,
    /// fsync blobs and index.json before they become visible (off for a scratch store).
    durable: bool,
    /// This process's temporary directory, made by its first write.
    writer: OnceLock<scratch::WriterDir>,
}

impl LayoutStore {
    /// Open the store at `root`. Nothing is created until something is written, so a read
    /// of a store that does not exist yet shows an empty store; a non-empty directory
    /// that is not a layout is refused rather than written into.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        let store = Self {
            root,
            durable: true,
            writer: OnceLock::new(),
        };
        store.check_layout()?;
        Ok(store)
    }

    /// A throwaway layout (a daemon's staging area): the same verification, without the
    /// fsyncs that only matter for content that must survive a crash.
    pub fn scratch(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let mut store = Self::open(root)?;
        store.durable = false;
        Ok(store)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn check_layout(&self) -> Result<(), StoreError> {
        let not_layout = |reason: String| StoreError::NotALayout {
            path: self.root.display().to_string(),
            reason,
        };
        match fs::read_to_string(self.root.join(LAYOUT_FILE)) {
            Ok(text) => {
                let v: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| not_layout(format!("oci-layout is not JSON: {e}")))?;
                match v.get("imageLayoutVersion").and_then(|v| v.as_str()) {
                    Some(ver) if ver.starts_with("1.") => Ok(()),
                    other => Err(not_layout(format!(
                        "unsupported imageLayoutVersion {other:?} (imagectl reads 1.x)"
                    ))),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A store whose creation was interrupted holds only the layout's own names
                // (a crash between mkdir and writing oci-layout): the next writer completes it.
                let own = |name: &std::ffi::OsStr| {
                    ["blobs", PRIVATE_DIR, INDEX_FILE]
                        .iter()
                        .any(|n| name == *n)
                };
                match fs::read_dir(&self.root) {
                    Ok(mut entries) => match entries.find(|e| !e.as_ref().is_ok_and(|e| own(&e.file_name()))) {
                        None => Ok(()),
                        Some(_) => Err(not_layout(
                            "the directory is not empty and has no oci-layout file; choose an empty or new directory with --store"
                                .to_string(),
                        )),
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(StoreError::io("reading", self.root.display().to_string(), e)),
                }
            }
            Err(e) => Err(StoreError::io(
                "reading",
                self.root.join(LAYOUT_FILE).display().to_string(),
                e,
            )),
        }
    }

    /// Create the layout skeleton if it is missing. Called by every writer before it writes.
    fn ensure_created(&self) -> Result<(), StoreError> {
        let io = |action, p: &Path, e| StoreError::io(action, p.display().to_string(), e);
        for dir in [self.blob_dir(), self.tmp_dir()] {
            fs::create_dir_all(&dir).map_err(|e| io("creating", &dir, e))?;
        }
        // Two processes may create a new store at once: each file is created only if it is
        // still absent (link-based, atomic), so neither can overwrite what the other wrote.
        // index.json first: a store with an oci-layout file then always has an index, which
        // other tools (and a crash in between) expect.
        for (name, content) in [
            (INDEX_FILE, index::EMPTY_INDEX),
            (LAYOUT_FILE, LAYOUT_CONTENT),
        ] {
            let path = self.root.join(name);
            if path.exists() {
                continue;
            }
            let mut tmp = self
                .temp_file("new-")
                .map_err(|e| io("creating", &path, e))?;
            std::io::Write::write_all(&mut tmp, content.as_bytes())
                .map_err(|e| io("writing", &path, e))?;
            tmp.as_file()
                .sync_all()
                .map_err(|e| io("syncing", &path, e))?;
            match tmp.persist_noclobber(&path) {
                Ok(_) => {}
                Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("creating", &path, e.error)),
            }
        }
        sync_dir(&self.root)
    }

    fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    /// `.imagectl/`: imagectl's own files, which other tools ignore.
    pub fn private_dir(&self) -> PathBuf {
        self.root.join(PRIVATE_DIR)
    }

    fn tmp_dir(&self) -> PathBuf {
        self.private_dir().join("tmp")
    }

    /// A temporary file in the store (so the final rename stays on one filesystem), in this
    /// writer's own directory, created readable by everyone like any other file of an OCI
    /// layout: tempfile's default of 0600 would make blobs unreadable to other users' skopeo
    /// or umoci.
    fn temp_file(&self, prefix: &str) -> std::io::Result<tempfile::NamedTempFile> {
        use std::os::unix::fs::PermissionsExt;
        let dir = match self.writer.get() {
            Some(w) => w.path.clone(),
            None => {
                let w = scratch::WriterDir::create(&self.tmp_dir())
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                // Two threads may race here: the loser's directory is dropped unused (its
                // lock released, so the next writer reaps it).
                let _ = self.writer.set(w);
                self.writer
                    .get()
                    .expect("writer dir was just set")
                    .path
                    .clone()
            }
        };
        tempfile::Builder::new()
            .prefix(prefix)
            .permissions(fs::Permissions::from_mode(0o644))
            .tempfile_in(dir)
    }

    /// Bytes that writers which are gone left in the store's temporary directory.
    pub fn leftovers(&self) -> Result<u64, StoreError> {
        scratch::leftovers(&self.tmp_dir())
    }
}

impl Store for LayoutStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.private_dir().join(name);
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("reading", path.display().to_string(), e)),
        }
    }

    fn write_state(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.ensure_created()?;
        let path = self.private_dir().join(name);
        let io = |action, e| StoreError::io(action, path.display().to_string(), e);
        let mut tmp = self.temp_file("state-").map_err(|e| io("writing", e))?;
        std::io::Write::write_all(&mut tmp, bytes).map_err(|e| io("writing", e))?;
        tmp.as_file().sync_all().map_err(|e| io("syncing", e))?;
        tmp.persist(&path).map_err(|e| io("replacing", e.error))?;
        sync_dir(&self.private_dir())
    }

    fn clean_temporary(&self) -> Result<u64, StoreError> {
        let dir = self.tmp_dir();
        let own = self
            .writer
            .get()
            .and_then(|w| w.path.file_name())
            .and_then(|n| n.to_str())
            .map(str::to_string);
        let mut freed = scratch::reap(&dir, own.as_deref())?;
        // Loose files of versions before per-writer directories: safe to remove here, under
        // the exclusive store lock, which no writer of any version holds now.
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(freed),
            Err(e) => return Err(StoreError::io("reading", dir.display().to_string(), e)),
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !meta.is_file() || name.starts_with("w-") {
                continue;
            }
            freed += meta.len();
            let path = entry.path();
            fs::remove_file(&path)
                .map_err(|e| StoreError::io("removing", path.display().to_string(), e))?;
        }
        Ok(freed)
    }
}

/// fsync a directory so a rename inside it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("syncing", dir.display().to_string(), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Catalog, LockMode, StoreLock};

    #[test]
    fn an_interrupted_creation_is_completed_not_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        fs::create_dir_all(root.join(".imagectl/tmp")).unwrap();
        fs::create_dir_all(root.join("blobs/sha256")).unwrap();
        let store = LayoutStore::open(&root).unwrap();
        drop(store.lock(LockMode::Shared).unwrap());
        assert!(root.join("oci-layout").exists());
        assert!(store.entries().unwrap().is_empty());
    }

    #[test]
    fn files_are_readable_by_other_users() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = LayoutStore::open(dir.path()).unwrap();
        let d = crate::oci::Digest::of(b"hello");
        crate::store::BlobWrite::put_blob(&store, &d, b"hello").unwrap();
        for f in [
            dir.path().join("blobs/sha256").join(d.hex()),
            dir.path().join("index.json"),
        ] {
            let mode = fs::metadata(&f).unwrap().permissions().mode();
            assert_eq!(mode & 0o044, 0o044, "{} has mode {mode:o}", f.display());
        }
    }

    #[test]
    fn a_foreign_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        assert!(matches!(
            LayoutStore::open(dir.path()),
            Err(StoreError::NotALayout { .. })
        ));
    }
}
