//! rmi: untag names and delete images whose last name went, freeing their blobs.

use std::collections::BTreeSet;

use super::ExecError;
use crate::oci::{Digest, Reference};
use crate::store::{Inventory, LockMode, Store, resolve_image};

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

/// Remove `queries` (names, IDs or ID prefixes). A name of an image that has other names
/// only untags; an ID of an image with several names needs `force`. Each query succeeds or
/// fails on its own; blobs no remaining image needs are deleted at the end.
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
        let inventory = Inventory::load(store)?;
        let image = match resolve_image(&inventory, query) {
            Ok(i) => i.clone(),
            Err(e) => {
                failures.push((query.clone(), e.into()));
                continue;
            }
        };
        let by_name = Reference::parse(query)
            .ok()
            .filter(|r| image.names.contains(r) || image.foreign_names.iter().any(|n| n == query));
        let all_names: Vec<String> = image
            .names
            .iter()
            .map(|n| n.to_string())
            .chain(image.foreign_names.iter().cloned())
            .collect();
        let (remove_names, delete_image): (Vec<String>, bool) = match by_name {
            Some(r) if all_names.len() > 1 => {
                let n = if image.names.contains(&r) {
                    r.to_string()
                } else {
                    query.clone()
                };
                (vec![n], false)
            }
            _ if all_names.len() > 1 && !force => {
                failures.push((
                    query.clone(),
                    ExecError::MultipleNames {
                        id: image.id.short().to_string(),
                        names: all_names.join(", "),
                    },
                ));
                continue;
            }
            _ => (all_names, true),
        };
        let target = image.target.digest.clone();
        store.update(&mut |entries| {
            entries.retain(|e| {
                let named = e
                    .name
                    .as_ref()
                    .map(|n| n.to_string())
                    .or_else(|| e.foreign_name().map(str::to_string));
                let hit = match &named {
                    Some(n) => remove_names.contains(n),
                    None => delete_image && e.target.digest == target,
                };
                !(hit && e.target.digest == target)
            });
            Ok(())
        })?;
        for n in &remove_names {
            events.push(RemoveEvent::Untagged(n.clone()));
        }
        if delete_image {
            events.push(RemoveEvent::Deleted(image.id.clone()));
            candidates.extend(image.blobs.keys().cloned());
        }
    }
    let remaining = Inventory::load(store)?.referenced_blobs();
    let mut freed = 0;
    for digest in candidates.difference(&remaining) {
        freed += store.blob_size(digest)?.unwrap_or(0);
        store.delete_blob(digest).map_err(ExecError::from)?;
    }
    Ok((events, failures, freed))
}
