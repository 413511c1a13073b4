//! rmi: untag names and delete images whose last name went, with the store's own rules
//! (docker's conflicts on the Engine), then free what no image needs any more.

use super::ExecError;
use crate::store::{ImageStore, LockMode, RemoveEvent};

/// What `rmi` did: the lines to print, per-query failures, and bytes freed.
pub type RemoveOutcome = (Vec<RemoveEvent>, Vec<(String, ExecError)>, u64);

/// Remove `queries` (names, IDs or ID prefixes). Each query succeeds or fails on its own;
/// garbage is collected at the end, under the exclusive lock so no concurrent pull can be
/// relying on it.
pub async fn remove_images(
    store: &dyn ImageStore,
    queries: &[String],
    force: bool,
) -> Result<RemoveOutcome, ExecError> {
    let _lock = store.lock(LockMode::Exclusive).await?;
    let mut events = Vec::new();
    let mut failures = Vec::new();
    for query in queries {
        match store.remove(query, force).await {
            Ok(e) => events.extend(e),
            Err(e) => failures.push((query.clone(), e.into())),
        }
    }
    let deleted = events.iter().any(|e| matches!(e, RemoveEvent::Deleted(_)));
    let freed = if deleted {
        store.collect_garbage(false).await?
    } else {
        0
    };
    Ok((events, failures, freed))
}
