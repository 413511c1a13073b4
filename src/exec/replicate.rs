//! Replication to other registries: what each target tag holds now (one HEAD each), then a
//! plan's pushes (through the [`Copier`]) and deletions, with imagectl's own pushes
//! recorded in each target's ledger so that only those are ever deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures_util::{StreamExt, stream};
use serde::Serialize;

use super::copy::{Copier, CopyRequest};
use super::error::ExecError;
use super::ledgers::Ledgers;
use super::referrers::ReferrerCopier;
use super::replica_referrers::{carry_referrers, delete_referrers};
use crate::oci::{Digest, Platform, Reference};
use crate::plan::{ReplicaAction, ReplicaObservation, ReplicaPlan, ReplicaRecord};
use crate::registry::{DeleteOutcome, RegistryClient, RegistryError};
use crate::store::ImageStore;

/// Target HEADs in flight at once: they are tiny, and a no-op run is nothing but these.
const OBSERVE_CONCURRENCY: usize = 32;

/// What a replication run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReplicationReport {
    /// Target tags pushed (`target ← source`).
    pub pushed: Vec<String>,
    /// Pushes the copier found already done.
    pub up_to_date: usize,
    /// Target tags deleted.
    pub deleted: Vec<String>,
    /// Deletions not made, and why (the tag changed hands, or shares its manifest).
    pub kept: Vec<String>,
    /// What failed.
    pub failures: Vec<String>,
    /// Blobs sent.
    pub blobs_uploaded: usize,
    /// Blobs mounted from another repository of the target.
    pub blobs_mounted: usize,
    /// Bytes sent.
    pub bytes_uploaded: u64,
    /// Referrer manifests and tags (signatures, attestations) written to targets.
    pub referrers_pushed: usize,
    /// Referrer manifests and tags deleted with the tags they belong to.
    pub referrers_deleted: usize,
}

/// HEAD every target tag. A registry that cannot be asked gives an error per tag, which the
/// planner turns into "leave this tag alone".
pub async fn observe_replicas(
    client: &RegistryClient,
    targets: &[Reference],
) -> Vec<ReplicaObservation> {
    stream::iter(targets)
        .map(|target| async move {
            ReplicaObservation {
                target: target.clone(),
                digest: client
                    .current_digest(target)
                    .await
                    .map_err(|e| e.to_string()),
            }
        })
        .buffered(OBSERVE_CONCURRENCY)
        .collect()
        .await
}

/// Carry out `plan`: every push (concurrently, `concurrency` images at a time), then the
/// deletions, except in target repositories where a push of this run failed; then the
/// targets' ledgers (`ledgers`, as read for the plan) record what changed.
pub async fn replicate(
    copier: Arc<Copier>,
    client: &RegistryClient,
    store: &dyn ImageStore,
    plan: &ReplicaPlan,
    ledgers: &Ledgers,
    referrers: Option<&ReferrerCopier>,
    concurrency: usize,
) -> Result<ReplicationReport, ExecError> {
    let mut report = ReplicationReport {
        failures: plan.failures.clone(),
        ..Default::default()
    };
    let pushes: Vec<(&Reference, &Digest, &Reference, Vec<Platform>)> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            ReplicaAction::Push {
                source,
                digest,
                target,
                platforms,
                ..
            } => Some((
                source,
                digest,
                target,
                platforms.iter().filter_map(|p| p.parse().ok()).collect(),
            )),
            ReplicaAction::DeleteTag { .. } => None,
        })
        .collect();
    let inventory = store.inventory().await.ok();
    let pushes = largest_first(inventory.as_ref(), pushes);
    let results: Vec<_> = stream::iter(pushes)
        .map(|(source, digest, target, platforms)| {
            let copier = copier.clone();
            async move {
                let req = CopyRequest {
                    source: source.clone(),
                    target: target.clone(),
                    platforms,
                    source_digest: Some(digest.clone()),
                    // The plan's HEAD found the target without this image.
                    target_checked: true,
                };
                (source, digest, target, copier.copy(&req).await)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut recorded = Vec::new();
    let mut failed_repos = BTreeSet::new();
    let mut at_target = BTreeMap::new();
    for (source, digest, target, result) in results {
        match result {
            Ok(out) if out.up_to_date => {
                report.up_to_date += 1;
                at_target.insert(target.clone(), (out.digest, None));
            }
            Ok(out) => {
                tracing::info!(%target, %source, "replicated");
                report.pushed.push(format!("{target} ← {source}"));
                report.blobs_uploaded += out.blobs_uploaded;
                report.blobs_mounted += out.blobs_mounted;
                report.bytes_uploaded += out.bytes_uploaded;
                let record = target.tag().is_some().then(|| ReplicaRecord {
                    target: target.clone(),
                    source: source.clone(),
                    source_digest: digest.clone(),
                    pushed_digest: out.digest.clone(),
                    referrers: Vec::new(),
                    referrer_tags: BTreeMap::new(),
                });
                recorded.extend(record.clone());
                at_target.insert(target.clone(), (out.digest, record));
            }
            Err(e) => {
                failed_repos.insert(target.name());
                report
                    .failures
                    .push(format!("replicating {source} to {target}: {e}"));
            }
        }
    }

    let earlier = ledgers.records();
    if let Some(carrier) = referrers {
        let carried =
            carry_referrers(carrier, &plan.referrers, &at_target, &earlier, concurrency).await;
        report.referrers_pushed = carried.pushed;
        report.blobs_uploaded += carried.blobs_uploaded;
        report.bytes_uploaded += carried.bytes_uploaded;
        report.failures.extend(carried.failures);
        for r in carried.records {
            recorded.retain(|x| x.target != r.target);
            recorded.push(r);
        }
    }

    let deleting: BTreeSet<&Reference> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            ReplicaAction::DeleteTag { target, .. } => Some(target),
            ReplicaAction::Push { .. } => None,
        })
        .collect();
    let staying: Vec<&ReplicaRecord> = earlier
        .iter()
        .chain(&recorded)
        .filter(|r| !deleting.contains(&r.target))
        .collect();
    let mut forgotten = Vec::new();
    for a in &plan.actions {
        let ReplicaAction::DeleteTag { target, digest, .. } = a else {
            continue;
        };
        if failed_repos.contains(&target.name()) {
            report.kept.push(format!(
                "{target}: not deleted because a push to its repository failed in this run"
            ));
            continue;
        }
        let deletion = delete_own_tag(client, target, digest).await;
        if matches!(deletion, Ok(Deletion::Deleted | Deletion::Gone))
            && let Some(record) = earlier
                .iter()
                .find(|r| r.target == *target && r.pushed_digest == *digest)
        {
            match delete_referrers(client, record, &staying).await {
                Ok(n) => report.referrers_deleted += n,
                Err(e) => report
                    .failures
                    .push(format!("deleting the referrers of {target}: {e}")),
            }
        }
        match deletion {
            Ok(Deletion::Deleted) => {
                report.deleted.push(target.to_string());
                forgotten.push((target.clone(), digest.clone()));
            }
            Ok(Deletion::Gone) => forgotten.push((target.clone(), digest.clone())),
            Ok(Deletion::Kept(why)) => {
                report.kept.push(format!("{target}: {why}"));
                forgotten.push((target.clone(), digest.clone()));
            }
            Err(e) => report.failures.push(format!("deleting {target}: {e}")),
        }
    }
    let failed = ledgers.write(client, store, &recorded, &forgotten).await?;
    report.failures.extend(failed);
    Ok(report)
}

/// Pushes ordered by the stored size of their image, largest first. Small images are
/// bound by per-request work at the target and large ones by bytes, so a large image
/// started last runs alone at the end while one started first overlaps the many small
/// ones (the longest-job-first rule; a first run of `benches/replicate.sh` took a median 6%
/// less time over 4 paired runs). An image the store cannot size counts as small.
fn largest_first<'a>(
    inventory: Option<&crate::store::Inventory>,
    mut pushes: Vec<(&'a Reference, &'a Digest, &'a Reference, Vec<Platform>)>,
) -> Vec<(&'a Reference, &'a Digest, &'a Reference, Vec<Platform>)> {
    let Some(inventory) = inventory else {
        return pushes;
    };
    let size = |source: &Reference, digest: &Digest| {
        inventory
            .images
            .iter()
            .find(|i| {
                i.sources.get(&source.without_digest()) == Some(digest)
                    || &i.target.digest == digest
            })
            .map_or(0, |i| i.size())
    };
    pushes.sort_by_cached_key(|(source, digest, _, _)| std::cmp::Reverse(size(source, digest)));
    pushes
}

enum Deletion {
    Deleted,
    Gone,
    Kept(String),
}

/// Delete `target` only if it still points at what imagectl pushed (`pushed`): a tag that
/// someone re-pushed since is theirs now.
async fn delete_own_tag(
    client: &RegistryClient,
    target: &Reference,
    pushed: &Digest,
) -> Result<Deletion, RegistryError> {
    match client.current_digest(target).await? {
        None => return Ok(Deletion::Gone),
        Some(d) if &d != pushed => {
            return Ok(Deletion::Kept(format!(
                "it now points at {} (pushed by someone else), so it is no longer imagectl's to delete",
                d.short()
            )));
        }
        Some(_) => {}
    }
    Ok(match client.delete_tag(target).await? {
        DeleteOutcome::Deleted => Deletion::Deleted,
        DeleteOutcome::AlreadyAbsent => Deletion::Gone,
        DeleteOutcome::KeptShared { tags } => Deletion::Kept(format!(
            "the registry can only delete the manifest, which tags {} share",
            tags.join(", ")
        )),
    })
}
