//! rmi: untag names and delete images whose last name went, freeing their blobs.

use std::collections::BTreeSet;

use super::ExecError;
use crate::oci::Digest;
use crate::store::{Inventory, LockMode, Resolved, Store, resolve};

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
/// fails on its own; blobs no remaining image needs are deleted at the end, under the
/// exclusive lock so no concurrent pull can be relying on them.
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
        let (targets, remove_names, deleted) = match resolve(&inventory, query) {
            Err(e) => {
                failures.push((query.clone(), e.into()));
                continue;
            }
            Ok(Resolved::Name(image)) => {
                let name = image
                    .names
                    .iter()
                    .find(|n| crate::oci::Reference::parse(query).ok().as_ref() == Some(*n))
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| query.clone());
                let last = image.names.len() + image.foreign_names.len() <= 1;
                (
                    vec![image],
                    vec![name],
                    if last { Some(image.id.clone()) } else { None },
                )
            }
            Ok(Resolved::Id(images)) => {
                let names: Vec<String> = images
                    .iter()
                    .flat_map(|i| {
                        i.names
                            .iter()
                            .map(|n| n.to_string())
                            .chain(i.foreign_names.iter().cloned())
                    })
                    .collect();
                if names.len() > 1 && !force {
                    failures.push((
                        query.clone(),
                        ExecError::MultipleNames {
                            id: images[0].id.short().to_string(),
                            names: names.join(", "),
                        },
                    ));
                    continue;
                }
                let id = images[0].id.clone();
                (images, names, Some(id))
            }
        };
        let target_digests: Vec<Digest> = targets.iter().map(|i| i.target.digest.clone()).collect();
        store.update(&mut |entries| {
            entries.retain(|e| {
                if !target_digests.contains(&e.target.digest) {
                    return true;
                }
                let named = e
                    .name
                    .as_ref()
                    .map(|n| n.to_string())
                    .or_else(|| e.foreign_name().map(str::to_string));
                match &named {
                    Some(n) => !remove_names.contains(n),
                    None => deleted.is_none(),
                }
            });
            Ok(())
        })?;
        events.extend(remove_names.into_iter().map(RemoveEvent::Untagged));
        if let Some(id) = deleted {
            events.push(RemoveEvent::Deleted(id));
            for image in &targets {
                candidates.extend(image.blobs.keys().cloned());
            }
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
