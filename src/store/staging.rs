//! Private staging layouts: where a daemon backend's import is written and checked before
//! any of it reaches the daemon, and where an export is read back. Each lives in a writer
//! directory under `$TMPDIR/imagectl-staging/` (see `scratch`): gone when dropped, and
//! removed by the next import or export when its process was killed.

use std::sync::Arc;

use super::layout::LayoutStore;
use super::scratch::WriterDir;
use super::{Inventory, StoreError};

/// A staging directory; dropping it removes it.
pub struct StagingDir {
    // Declared first: the layout's files go before the writer directory that holds them.
    _dir: tempfile::TempDir,
    _writer: WriterDir,
}

/// A private layout in the temp directory (`$TMPDIR`), without fsync: it never outlives
/// the process that made it.
pub fn staging() -> Result<(StagingDir, Arc<LayoutStore>), StoreError> {
    let base = base();
    let writer = WriterDir::create(&base)?;
    let dir = tempfile::Builder::new()
        .prefix("stage-")
        .tempdir_in(&writer.path)
        .map_err(|e| StoreError::io("creating", "a staging directory in $TMPDIR", e))?;
    let layout = LayoutStore::scratch(dir.path().join("layout"))?;
    Ok((
        StagingDir {
            _dir: dir,
            _writer: writer,
        },
        Arc::new(layout),
    ))
}

fn base() -> std::path::PathBuf {
    std::env::temp_dir().join("imagectl-staging")
}

/// Bytes that staging directories of killed processes hold; the next import or export
/// removes them.
pub fn leftovers() -> Result<u64, StoreError> {
    super::scratch::leftovers(&base())
}

/// Remove what staging directories of killed processes hold; returns the bytes freed.
/// Off the async runtime: the leftovers of a killed load can be gigabytes.
pub async fn reap() -> Result<u64, StoreError> {
    tokio::task::spawn_blocking(|| super::scratch::reap(&base(), None))
        .await
        .expect("reaping task panicked")
}

/// What a staging layout holds, read off the async runtime.
pub async fn staged_inventory(layout: &Arc<LayoutStore>) -> Result<Inventory, StoreError> {
    let layout = layout.clone();
    tokio::task::spawn_blocking(move || Inventory::load(&*layout))
        .await
        .expect("inventory task panicked")
}
