//! Carrying out a plan: pulls (concurrently, through the ordinary pull path), retags, then
//! removals under the exclusive lock, each re-checked against the store as it is then.
//! Nothing is removed in a repository where a pull of this run failed, and nothing at all
//! when the plan exceeds `max_removals`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use super::{ExecError, PullObserver, PullOptions, pull_into, tag_image};
use crate::oci::{Digest, Platform, Reference};
use crate::plan::{Action, Actual, ActualImage, ActualName, Plan, RemovalLimit};
use crate::registry::RegistryClient;
use crate::store::{ImageStore, Inventory, LockMode};

/// What an apply did.
#[derive(Debug, Default, Serialize)]
pub struct ApplyReport {
    /// Names pulled.
    pub pulled: Vec<String>,
    /// Names added by tag.
    pub tagged: Vec<String>,
    /// Names removed from images that stay.
    pub untagged: Vec<String>,
    /// Images removed (IDs).
    pub removed: Vec<String>,
    /// Whether the plan's prune of unused blobs ran.
    pub pruned: bool,
    /// Bytes downloaded.
    pub bytes_downloaded: u64,
    /// Bytes freed.
    pub bytes_reclaimed: u64,
    /// Store size before.
    pub store_bytes_before: u64,
    /// Store size after.
    pub store_bytes_after: u64,
    /// What failed, one line each.
    pub failures: Vec<String>,
    /// Set when removals were refused for exceeding the limit.
    pub refused: Option<RemovalLimit>,
    /// Removals skipped because their precondition no longer held.
    pub skipped: Vec<String>,
}

/// The planner's view of an inventory.
pub fn actual_state(inventory: &Inventory, blobs: &[(Digest, u64)]) -> Actual {
    let users = inventory.blob_users();
    let referenced = inventory.referenced_blobs();
    Actual {
        images: inventory
            .images
            .iter()
            .map(|i| ActualImage {
                target: i.target.digest.clone(),
                id: i.id.clone(),
                names: i
                    .names
                    .iter()
                    .map(|n| ActualName {
                        name: n.clone(),
                        source_digest: i.sources.get(n).cloned(),
                    })
                    .collect(),
                foreign: !i.foreign_names.is_empty(),
                unique_size: i
                    .blobs
                    .iter()
                    .filter(|(d, _)| users.get(*d).copied().unwrap_or(0) <= 1)
                    .map(|(_, s)| s)
                    .sum(),
                pulled_at: i.pulled_at,
                last_used: i.last_used,
                blobs: i.blobs.iter().map(|(d, s)| (d.clone(), *s)).collect(),
                containers: i.containers.iter().map(|c| c.name.clone()).collect(),
                pinned: i.pinned.clone(),
            })
            .collect(),
        unreferenced_bytes: blobs
            .iter()
            .filter(|(d, _)| !referenced.contains(d))
            .map(|(_, s)| s)
            .sum(),
        replicas: Vec::new(),
        pushed: Vec::new(),
    }
}

/// Bytes of every piece of content the store holds, each counted once.
async fn content_bytes(store: &dyn ImageStore, inventory: &Inventory) -> Result<u64, ExecError> {
    Ok(store
        .content_sizes(inventory)
        .await?
        .iter()
        .map(|(_, s)| s)
        .sum())
}

async fn store_bytes(store: &dyn ImageStore) -> u64 {
    match store.inventory().await {
        Ok(inventory) => content_bytes(store, &inventory).await.unwrap_or(0),
        Err(_) => 0,
    }
}

/// Execute `plan` against `store`.
pub async fn apply(
    client: &RegistryClient,
    store: Arc<dyn ImageStore>,
    plan: &Plan,
    concurrency: usize,
    observer: Arc<dyn PullObserver>,
) -> Result<ApplyReport, ExecError> {
    let mut report = ApplyReport {
        store_bytes_before: store_bytes(&*store).await,
        ..Default::default()
    };
    let mut failed_repos: BTreeSet<String> =
        plan.failures.iter().map(|f| f.repository.clone()).collect();

    // Pulls, grouped by the platforms they keep; each group is one concurrent pull.
    let mut groups: BTreeMap<Vec<String>, Vec<Reference>> = BTreeMap::new();
    for a in &plan.actions {
        if let Action::Pull {
            name,
            digest,
            platforms,
            ..
        } = a
        {
            let reference = if name.digest().is_some() {
                name.clone()
            } else {
                name.with_digest(digest.clone())
            };
            groups.entry(platforms.clone()).or_default().push(reference);
        }
    }
    for (platforms, refs) in groups {
        let platforms: Vec<Platform> = platforms.iter().filter_map(|p| p.parse().ok()).collect();
        let opts = PullOptions {
            platforms: if platforms.is_empty() {
                vec![Platform::host()]
            } else {
                platforms
            },
            all_platforms: false,
            concurrency,
        };
        let pulled = pull_into(client, &*store, &refs, &opts, observer.clone()).await?;
        report.bytes_downloaded += pulled.bytes_downloaded;
        for (reference, result) in pulled.results {
            match result {
                Ok(img) => report.pulled.push(img.name.to_string()),
                Err(e) => {
                    failed_repos.insert(reference.name());
                    report
                        .failures
                        .push(format!("pull {}: {e}", reference.without_digest()));
                }
            }
        }
    }

    for a in &plan.actions {
        if let Action::Tag { source, target } = a {
            match tag_image(&*store, &source.to_string(), target).await {
                Ok(_) => report.tagged.push(target.to_string()),
                Err(e) => report.failures.push(format!("tag {target}: {e}")),
            }
        }
    }

    if let Some(limit) = &plan.removal_limit {
        report.refused = Some(limit.clone());
    } else {
        remove(&*store, plan, &failed_repos, &mut report).await?;
    }
    report.store_bytes_after = store_bytes(&*store).await;
    Ok(report)
}

/// Untags and removals under the exclusive lock, each re-checked first.
async fn remove(
    store: &dyn ImageStore,
    plan: &Plan,
    failed_repos: &BTreeSet<String>,
    report: &mut ApplyReport,
) -> Result<(), ExecError> {
    let work: Vec<&Action> = plan
        .actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Untag { .. } | Action::Remove { .. } | Action::PruneBlobs { .. }
            )
        })
        .collect();
    if work.is_empty() {
        return Ok(());
    }
    let _lock = store.lock(LockMode::Exclusive).await?;
    let inventory = store.inventory().await?;
    let bytes_before = content_bytes(store, &inventory).await?;
    let blocked = |n: &Reference| failed_repos.contains(&n.name());
    let mut drop_names: BTreeSet<Reference> = BTreeSet::new();
    let mut drop_images: Vec<&crate::store::InventoryImage> = Vec::new();
    for a in &work {
        match a {
            Action::Untag { name, id, .. } => {
                let holds = inventory
                    .images
                    .iter()
                    .any(|i| &i.id == id && i.names.contains(name));
                if blocked(name) || !holds {
                    report.skipped.push(format!("untag {name}: not done (a pull in its repository failed, or it changed since planning)"));
                } else {
                    drop_names.insert(name.clone());
                }
            }
            Action::Remove {
                target, id, names, ..
            } => {
                let Some(img) = inventory.images.iter().find(|i| &i.target.digest == target) else {
                    continue;
                };
                let unexpected: Vec<&Reference> =
                    img.names.iter().filter(|n| !names.contains(n)).collect();
                if !unexpected.is_empty()
                    || !img.foreign_names.is_empty()
                    || names.iter().any(blocked)
                {
                    report.skipped.push(format!(
                        "remove {}: not done (it is still named {}; a pull may have failed)",
                        id.short(),
                        unexpected
                            .iter()
                            .map(|n| n.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    continue;
                }
                if let Some(reason) = img.pinned.as_ref().filter(|_| img.containers.is_empty()) {
                    report
                        .skipped
                        .push(format!("remove {}: not done ({reason})", id.short()));
                    continue;
                }
                if !img.containers.is_empty() {
                    report.skipped.push(format!(
                        "remove {}: not done (used by container {})",
                        id.short(),
                        img.containers
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    continue;
                }
                drop_images.push(img);
            }
            _ => {}
        }
    }
    for name in &drop_names {
        match store.remove_name(name).await {
            Ok(()) => report.untagged.push(name.to_string()),
            Err(e) => report.failures.push(format!("untag {name}: {e}")),
        }
    }
    for img in drop_images {
        match store.remove_image(img, false).await {
            Ok(_) => report.removed.push(img.id.to_string()),
            Err(e) => report
                .skipped
                .push(format!("remove {}: not done ({e})", img.id.short())),
        }
    }
    let prune_all = work.iter().any(|a| matches!(a, Action::PruneBlobs { .. }));
    let changed = !report.removed.is_empty() || !report.untagged.is_empty();
    report.pruned = prune_all;
    let freed = if prune_all || changed {
        store.collect_garbage(prune_all).await?
    } else {
        0
    };
    report.bytes_reclaimed += if store.content().is_some() {
        freed
    } else {
        let after = store.inventory().await?;
        bytes_before.saturating_sub(content_bytes(store, &after).await?)
    };
    Ok(())
}
