//! rmi: untag names and delete images whose last name went, freeing their blobs.

use std::collections::BTreeSet;

use super::ExecError;
use crate::oci::{Digest, Reference};
use crate::store::{Inventory, InventoryImage, LockMode, Resolved, Store, resolve};

/// One line of `rmi` output, as docker prints them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoveEvent {
    /// A name was removed.
    Untagged(String),
    /// An image was deleted.
    Deleted(Digest),
}

/// What `rmi` did: the lines to print, per-query failures, and bytes freed.
pub type RemoveOutcome = (Vec<RemoveEvent>, Vec<(String, ExecError)>, u64);

/// What one query removes.
struct Removal {
    /// The manifests concerned.
    targets: Vec<Digest>,
    /// The names to remove.
    names: Vec<String>,
    /// Set when the image goes entirely (its last name went).
    deleted: Option<Digest>,
    /// Blobs to consider freeing.
    blobs: Vec<Digest>,
}

fn all_names(images: &[&InventoryImage]) -> Vec<String> {
    images
        .iter()
        .flat_map(|i| {
            i.names
                .iter()
                .map(|n| n.to_string())
                .chain(i.foreign_names.iter().cloned())
        })
        .collect()
}

/// Decide what `query` removes: one of an image's names untags that name only (and
/// deletes the image if it was the last); an ID or a `repo@digest` naming the image by
/// content means every name, which needs `force` when there are several.
fn plan(inventory: &Inventory, query: &str, force: bool) -> Result<Removal, ExecError> {
    let parsed = Reference::parse(query).ok();
    let images = match resolve(inventory, query)? {
        Resolved::Name(image)
            if parsed.as_ref().is_some_and(|p| image.names.contains(p))
                || image.foreign_names.iter().any(|n| n == query) =>
        {
            let name = parsed
                .filter(|p| image.names.contains(p))
                .map(|p| p.to_string())
                .unwrap_or_else(|| query.to_string());
            let last = image.names.len() + image.foreign_names.len() <= 1;
            return Ok(Removal {
                targets: vec![image.target.digest.clone()],
                names: vec![name],
                deleted: last.then(|| image.id.clone()),
                blobs: image.blobs.keys().cloned().collect(),
            });
        }
        Resolved::Name(image) => vec![image],
        Resolved::Id(images) => images,
    };
    let names = all_names(&images);
    if names.len() > 1 && !force {
        return Err(ExecError::MultipleNames {
            id: images[0].id.short().to_string(),
            names: names.join(", "),
        });
    }
    Ok(Removal {
        targets: images.iter().map(|i| i.target.digest.clone()).collect(),
        names,
        deleted: Some(images[0].id.clone()),
        blobs: images
            .iter()
            .flat_map(|i| i.blobs.keys().cloned())
            .collect(),
    })
}

/// Remove `queries` (names, IDs or ID prefixes). Each query succeeds or fails on its own;
/// blobs no remaining image needs are deleted at the end, under the exclusive lock so no
/// concurrent pull can be relying on them.
pub fn remove_images(
    store: &dyn Store,
    queries: &[String],
    force: bool,
) -> Result<RemoveOutcome, ExecError> {
    let _lock = store.lock(LockMode::Exclusive)?;
    let mut events = Vec::new();
    let mut failures = Vec::new();
    let mut candidates: BTreeSet<Digest> = BTreeSet::new();
    for query in queries {
        let removal = match plan(&Inventory::load(store)?, query, force) {
            Ok(r) => r,
            Err(e) => {
                failures.push((query.clone(), e));
                continue;
            }
        };
        store.update(&mut |entries| {
            entries.retain(|e| {
                if !removal.targets.contains(&e.target.digest) {
                    return true;
                }
                let named = e
                    .name
                    .as_ref()
                    .map(|n| n.to_string())
                    .or_else(|| e.foreign_name().map(str::to_string));
                match &named {
                    Some(n) => !removal.names.contains(n),
                    None => removal.deleted.is_none(),
                }
            });
            Ok(())
        })?;
        events.extend(removal.names.into_iter().map(RemoveEvent::Untagged));
        if let Some(id) = removal.deleted {
            events.push(RemoveEvent::Deleted(id));
            candidates.extend(removal.blobs);
        }
    }
    let remaining = Inventory::load(store)?.referenced_blobs();
    let mut freed = 0;
    for digest in candidates.difference(&remaining) {
        freed += store.blob_size(digest)?.unwrap_or(0);
        store.delete_blob(digest)?;
    }
    Ok((events, failures, freed))
}
