//! prune: remove dangling images (or, with `all`, every image no container uses), then
//! collect what no remaining image needs and the leftovers of interrupted writes.

use super::ExecError;
use crate::store::{ImageStore, Inventory, InventoryImage, LockMode, RemoveEvent};

/// What prune removed.
#[derive(Debug, Default)]
pub struct PruneReport {
    /// Images removed: ID and the names they had.
    pub images: Vec<(String, Vec<String>)>,
    /// Images kept because a container uses them (daemons).
    pub in_use: usize,
    /// Bytes freed.
    pub reclaimed: u64,
}

/// The images `prune` would remove, for the confirmation prompt: never one a container uses.
pub fn prune_candidates(inventory: &Inventory, all: bool) -> Vec<&InventoryImage> {
    inventory
        .images
        .iter()
        .filter(|i| (all || i.is_dangling()) && i.containers.is_empty() && i.pinned.is_none())
        .collect()
}

/// Prune under the exclusive lock. The inventory is re-read under the lock, so an image
/// named by a concurrent writer a moment ago is never removed as dangling.
pub async fn prune(store: &dyn ImageStore, all: bool) -> Result<PruneReport, ExecError> {
    let _lock = store.lock(LockMode::Exclusive).await?;
    let inventory = store.inventory().await?;
    let size = |inv: &Inventory| -> u64 { inv.images.iter().map(|i| i.size()).sum() };
    let before = size(&inventory);
    let mut report = PruneReport::default();
    for image in prune_candidates(&inventory, all) {
        match store.remove_image(image, false).await {
            Ok(events) => {
                let names = events
                    .iter()
                    .filter_map(|e| match e {
                        RemoveEvent::Untagged(n) => Some(n.clone()),
                        RemoveEvent::Deleted(_) => None,
                    })
                    .collect();
                report.images.push((image.id.to_string(), names));
            }
            // A container created meanwhile: it keeps its image.
            Err(crate::store::StoreError::InUse(_)) => report.in_use += 1,
            Err(e) => return Err(e.into()),
        }
    }
    report.reclaimed = store.collect_garbage(true).await?;
    if store.content().is_none() {
        let after = store.inventory().await?;
        report.reclaimed += before.saturating_sub(size(&after));
    }
    Ok(report)
}
