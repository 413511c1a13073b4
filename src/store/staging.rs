//! Private staging layouts: where a daemon backend's import is written and checked before
//! any of it reaches the daemon, and where an export is read back. Gone when dropped.

use std::sync::Arc;

use super::layout::LayoutStore;
use super::{Inventory, StoreError};

/// A private layout in the temp directory (`$TMPDIR`), without fsync: it never outlives
/// the process that made it.
pub fn staging() -> Result<(tempfile::TempDir, Arc<LayoutStore>), StoreError> {
    let dir = tempfile::Builder::new()
        .prefix("imagectl-stage-")
        .tempdir()
        .map_err(|e| StoreError::io("creating", "a staging directory in $TMPDIR", e))?;
    let layout = LayoutStore::scratch(dir.path().join("layout"))?;
    Ok((dir, Arc::new(layout)))
}

/// What a staging layout holds, read off the async runtime.
pub async fn staged_inventory(layout: &Arc<LayoutStore>) -> Result<Inventory, StoreError> {
    let layout = layout.clone();
    tokio::task::spawn_blocking(move || Inventory::load(&*layout))
        .await
        .expect("inventory task panicked")
}
