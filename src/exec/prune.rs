//! prune: remove dangling images (or, with `all`, every image), then every blob no
//! remaining image needs and the leftovers of interrupted writes.

use super::ExecError;
use crate::oci::Digest;
use crate::store::{Inventory, InventoryImage, LockMode, Store};

/// What prune removed.
#[derive(Debug, Default)]
pub struct PruneReport {
    /// Images removed: ID and the names they had.
    pub images: Vec<(Digest, Vec<String>)>,
    /// Blobs deleted.
    pub blobs: Vec<Digest>,
    /// Bytes freed (blobs and temporary files).
    pub reclaimed: u64,
}

/// The images `prune` would remove, for the confirmation prompt.
pub fn prune_candidates(inventory: &Inventory, all: bool) -> Vec<&InventoryImage> {
    inventory
        .images
        .iter()
        .filter(|i| all || i.is_dangling())
        .collect()
}

/// Prune under the exclusive lock. The inventory is re-read under the lock, so an image
/// named by a concurrent writer a moment ago is never removed as dangling.
pub fn prune(store: &dyn Store, all: bool) -> Result<PruneReport, ExecError> {
    let _lock = store.lock(LockMode::Exclusive)?;
    let inventory = Inventory::load(store)?;
    let mut report = PruneReport::default();
    let doomed: Vec<Digest> = prune_candidates(&inventory, all)
        .iter()
        .map(|i| {
            let names = i
                .names
                .iter()
                .map(|n| n.to_string())
                .chain(i.foreign_names.iter().cloned())
                .collect();
            report.images.push((i.id.clone(), names));
            i.target.digest.clone()
        })
        .collect();
    if !doomed.is_empty() {
        store.update(&mut |entries| {
            entries.retain(|e| !doomed.contains(&e.target.digest));
            Ok(())
        })?;
    }
    let referenced = Inventory::load(store)?.referenced_blobs();
    for (digest, size) in store.list_blobs()? {
        if !referenced.contains(&digest) {
            store.delete_blob(&digest)?;
            report.reclaimed += size;
            report.blobs.push(digest);
        }
    }
    report.reclaimed += store.clean_temporary()?;
    Ok(report)
}
