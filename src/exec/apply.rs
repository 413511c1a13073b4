//! Carrying out a plan: pulls (concurrently, through the ordinary pull path), retags, then
//! removals under the exclusive lock, each re-checked against the store as it is then.
//! Nothing is removed in a repository where a pull of this run failed, and nothing at all
//! when the plan exceeds `max_removals`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use super::apply_failure::ApplyFailure;
use super::{ExecError, PullObserver, PullOptions, PulledImage, pull_into, tag_image};
use crate::oci::{Digest, Platform, Reference};
use crate::plan::{Action, Actual, ActualImage, ActualName, Plan, RemovalLimit};
use crate::registry::RegistryClient;
use crate::store::{ImageStore, Inventory, LockMode, referrers_of};

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
    /// What failed, one action each (serialised as one line each).
    pub failures: Vec<ApplyFailure>,
    /// Set when removals were refused for exceeding the limit.
    pub refused: Option<RemovalLimit>,
    /// Removals skipped because their precondition no longer held.
    pub skipped: Vec<String>,
    /// Every action carried out or attempted, in order, with its outcome and duration.
    pub actions: Vec<ActionOutcome>,
}

/// How one action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Tried and failed.
    Failed,
    /// Not tried: its precondition no longer held, or a failure elsewhere made it unsafe.
    Skipped,
}

/// One action of an apply, for run reports, logs and metrics.
#[derive(Clone, Debug, Serialize)]
pub struct ActionOutcome {
    /// `pull`, `tag`, `untag`, `remove` or `prune_blobs`.
    pub action: &'static str,
    /// The name (or image ID) it acted on.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Seconds it took (for a pull: from the start of its concurrent group to its end).
    pub seconds: f64,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ApplyReport {
    fn outcome(
        &mut self,
        action: &'static str,
        target: String,
        started: Instant,
        error: Option<(Outcome, String)>,
    ) {
        let (outcome, error) = match error {
            None => (Outcome::Ok, None),
            Some((o, e)) => (o, Some(e)),
        };
        self.actions.push(ActionOutcome {
            action,
            target,
            outcome,
            seconds: started.elapsed().as_secs_f64(),
            error,
        });
    }
}

/// Passes pull events on, noting when each image finished: pulls of a group run at once,
/// so a pull's duration is the time from the group's start to its own end.
struct Timed {
    inner: Arc<dyn PullObserver>,
    start: Instant,
    finished: Mutex<HashMap<String, f64>>,
}

impl PullObserver for Timed {
    fn resolved(&self, reference: &Reference, digest: &Digest, up_to_date: bool) {
        self.inner.resolved(reference, digest, up_to_date)
    }
    fn blob_started(&self, digest: &Digest, size: u64) {
        self.inner.blob_started(digest, size)
    }
    fn blob_progress(&self, digest: &Digest, bytes: u64) {
        self.inner.blob_progress(digest, bytes)
    }
    fn blob_restarted(&self, digest: &Digest) {
        self.inner.blob_restarted(digest)
    }
    fn blob_finished(&self, digest: &Digest, error: Option<&str>) {
        self.inner.blob_finished(digest, error)
    }
    fn image_finished(&self, reference: &Reference, result: &Result<PulledImage, ExecError>) {
        self.finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(reference.to_string(), self.start.elapsed().as_secs_f64());
        self.inner.image_finished(reference, result)
    }
}

/// The planner's view of an inventory.
pub fn actual_state(inventory: &Inventory, blobs: &[(Digest, u64)]) -> Actual {
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
                pulled_at: i.pulled_at,
                last_used: i.last_used,
                // Its kept referrers go with it, so their blobs are its blobs too.
                blobs: i
                    .blobs
                    .iter()
                    .chain(
                        referrers_of(&inventory.referrers, i)
                            .iter()
                            .flat_map(|r| &r.blobs),
                    )
                    .map(|(d, s)| (d.clone(), *s))
                    .collect::<BTreeMap<_, _>>()
                    .into_iter()
                    .collect(),
                containers: i.containers.iter().map(|c| c.name.clone()).collect(),
                pinned: i.pinned.clone(),
            })
            .collect(),
        unreferenced_bytes: blobs
            .iter()
            .filter(|(d, _)| !referenced.contains(d))
            .map(|(_, s)| s)
            .sum(),
        leftover_bytes: 0,
        replicas: Vec::new(),
        pushed: Vec::new(),
        unreadable_ledgers: Vec::new(),
        referrers: Vec::new(),
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
        let timed = Arc::new(Timed {
            inner: observer.clone(),
            start: Instant::now(),
            finished: Mutex::new(HashMap::new()),
        });
        let pulled = pull_into(client, &*store, &refs, &opts, timed.clone()).await?;
        report.bytes_downloaded += pulled.bytes_downloaded;
        let finished =
            std::mem::take(&mut *timed.finished.lock().unwrap_or_else(|p| p.into_inner()));
        for (reference, result) in pulled.results {
            let seconds = finished
                .get(&reference.to_string())
                .copied()
                .unwrap_or_else(|| timed.start.elapsed().as_secs_f64());
            let name = reference.without_digest();
            let target = name.to_string();
            let error = match result {
                Ok(img) => {
                    report.pulled.push(img.name.to_string());
                    None
                }
                Err(error) => {
                    failed_repos.insert(reference.name());
                    let line = error.to_string();
                    report.failures.push(ApplyFailure::Pull {
                        target: name,
                        error,
                    });
                    Some(line)
                }
            };
            report.actions.push(ActionOutcome {
                action: "pull",
                target,
                outcome: if error.is_some() {
                    Outcome::Failed
                } else {
                    Outcome::Ok
                },
                seconds,
                error,
            });
        }
    }

    for a in &plan.actions {
        if let Action::Tag { source, target } = a {
            let started = Instant::now();
            let error = match tag_image(&*store, &source.to_string(), target).await {
                Ok(_) => {
                    report.tagged.push(target.to_string());
                    None
                }
                Err(error) => {
                    let line = error.to_string();
                    report.failures.push(ApplyFailure::Tag {
                        target: target.clone(),
                        error,
                    });
                    Some((Outcome::Failed, line))
                }
            };
            report.outcome("tag", target.to_string(), started, error);
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
                    let why = "a pull in its repository failed, or it changed since planning";
                    report
                        .skipped
                        .push(format!("untag {name}: not done ({why})"));
                    report.outcome(
                        "untag",
                        name.to_string(),
                        Instant::now(),
                        Some((Outcome::Skipped, why.to_string())),
                    );
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
                // Why the image must stay after all, if it must: the executor checks again
                // what the plan saw, against the store as it is now.
                let why = if !unexpected.is_empty()
                    || !img.foreign_names.is_empty()
                    || names.iter().any(blocked)
                {
                    Some(format!(
                        "it is still named {}; a pull may have failed",
                        unexpected
                            .iter()
                            .map(|n| n.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                } else if !img.containers.is_empty() {
                    Some(format!(
                        "used by container {}",
                        img.containers
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                } else {
                    img.pinned.clone()
                };
                if let Some(why) = why {
                    report
                        .skipped
                        .push(format!("remove {}: not done ({why})", id.short()));
                    report.outcome(
                        "remove",
                        id.to_string(),
                        Instant::now(),
                        Some((Outcome::Skipped, why)),
                    );
                    continue;
                }
                drop_images.push(img);
            }
            _ => {}
        }
    }
    for name in &drop_names {
        let started = Instant::now();
        let error = match store.remove_name(name).await {
            Ok(()) => {
                report.untagged.push(name.to_string());
                None
            }
            Err(error) => {
                let line = error.to_string();
                report.failures.push(ApplyFailure::Untag {
                    name: name.clone(),
                    error,
                });
                Some((Outcome::Failed, line))
            }
        };
        report.outcome("untag", name.to_string(), started, error);
    }
    for img in drop_images {
        let started = Instant::now();
        let error = match store.remove_image(img, false).await {
            Ok(_) => {
                report.removed.push(img.id.to_string());
                None
            }
            Err(e) => {
                report
                    .skipped
                    .push(format!("remove {}: not done ({e})", img.id.short()));
                Some((Outcome::Skipped, e.to_string()))
            }
        };
        report.outcome("remove", img.id.to_string(), started, error);
    }
    let prune_all = work.iter().any(|a| matches!(a, Action::PruneBlobs { .. }));
    let changed = !report.removed.is_empty() || !report.untagged.is_empty();
    report.pruned = prune_all;
    let started = Instant::now();
    // A pull or tag of this run, as the store's first writer, may have removed what killed
    // runs left already: those bytes count as this run's too.
    let planned_leftovers: u64 = work
        .iter()
        .map(|a| match a {
            Action::PruneBlobs { leftovers, .. } => *leftovers,
            _ => 0,
        })
        .sum();
    if planned_leftovers > 0 {
        let still = store.leftovers().await?;
        report.bytes_reclaimed += planned_leftovers.saturating_sub(still);
    }
    let freed = if prune_all || changed {
        store.collect_garbage(prune_all).await?
    } else {
        0
    };
    if prune_all {
        report.outcome("prune_blobs", store.location(), started, None);
    }
    report.bytes_reclaimed += if store.content().is_some() {
        freed
    } else {
        // A daemon frees its content itself; `freed` is what its staging space gave back.
        let after = store.inventory().await?;
        bytes_before.saturating_sub(content_bytes(store, &after).await?) + freed
    };
    Ok(())
}
