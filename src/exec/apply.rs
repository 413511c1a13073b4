//! Carrying out a plan: pulls (concurrently, through the ordinary pull path), retags, then
//! removals under the exclusive lock, each re-checked against the store as it is then.
//! Nothing is removed in a repository where a pull of this run failed, and nothing at all
//! when the plan exceeds `max_removals`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use super::{ExecError, PullObserver, PullOptions, pull, tag_image};
use crate::oci::{Digest, Platform, Reference};
use crate::plan::{Action, Actual, ActualImage, ActualName, Plan, RemovalLimit};
use crate::registry::RegistryClient;
use crate::store::{Inventory, LockMode, Store};

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

fn store_bytes(store: &dyn Store) -> u64 {
    store
        .list_blobs()
        .map(|b| b.iter().map(|(_, s)| s).sum())
        .unwrap_or(0)
}

/// Execute `plan` against `store`.
pub async fn apply(
    client: &RegistryClient,
    store: Arc<dyn Store>,
    plan: &Plan,
    concurrency: usize,
    observer: Arc<dyn PullObserver>,
) -> Result<ApplyReport, ExecError> {
    let mut report = ApplyReport {
        store_bytes_before: store_bytes(&*store),
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
        let pulled = pull(client, store.clone(), &refs, &opts, observer.clone()).await?;
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
            match tag_image(&*store, &source.to_string(), target) {
                Ok(_) => report.tagged.push(target.to_string()),
                Err(e) => report.failures.push(format!("tag {target}: {e}")),
            }
        }
    }

    if let Some(limit) = &plan.removal_limit {
        report.refused = Some(limit.clone());
    } else {
        remove(&*store, plan, &failed_repos, &mut report)?;
    }
    report.store_bytes_after = store_bytes(&*store);
    Ok(report)
}

/// Untags and removals under the exclusive lock, each re-checked first.
fn remove(
    store: &dyn Store,
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
    let _lock = store.lock(LockMode::Exclusive)?;
    let inventory = Inventory::load(store)?;
    let blocked = |n: &Reference| failed_repos.contains(&n.name());
    let mut drop_names: BTreeSet<Reference> = BTreeSet::new();
    let mut drop_targets: BTreeSet<Digest> = BTreeSet::new();
    let mut candidates: BTreeSet<Digest> = BTreeSet::new();
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
                    report.untagged.push(name.to_string());
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
                drop_targets.insert(target.clone());
                candidates.extend(img.blobs.keys().cloned());
                report.removed.push(id.to_string());
            }
            _ => {}
        }
    }
    if !drop_names.is_empty() || !drop_targets.is_empty() {
        store.update(&mut |entries| {
            entries.retain(|e| {
                !(drop_targets.contains(&e.target.digest)
                    || e.name.as_ref().is_some_and(|n| drop_names.contains(n)))
            });
            Ok(())
        })?;
    }
    let referenced = Inventory::load(store)?.referenced_blobs();
    let prune_all = work.iter().any(|a| matches!(a, Action::PruneBlobs { .. }));
    for (digest, size) in store.list_blobs()? {
        if !referenced.contains(&digest) && (prune_all || candidates.contains(&digest)) {
            store.delete_blob(&digest)?;
            report.bytes_reclaimed += size;
        }
    }
    if prune_all {
        report.bytes_reclaimed += store.clean_temporary()?;
    }
    Ok(())
}
