//! Referrers in a replication run: carried for every image a target receives or already
//! holds (new signatures appear for old images), recorded with the tag in the target's
//! ledger, and deleted with the tag when retention drops it.

use std::collections::BTreeMap;

use futures_util::{StreamExt, stream};

use super::referrers::{KnownReferrers, ReferrerCopier};
use crate::oci::{Digest, Reference};
use crate::plan::{ReferrerCarry, ReplicaRecord};
use crate::registry::{RegistryClient, RegistryError};

/// What carrying referrers did in one run.
#[derive(Debug, Default)]
pub struct CarryResult {
    /// Records (imagectl's own tags) whose referrers changed, to upsert in the ledger.
    pub records: Vec<ReplicaRecord>,
    /// Referrer manifests and tags written.
    pub pushed: usize,
    /// Blobs sent.
    pub blobs_uploaded: usize,
    /// Bytes sent.
    pub bytes_uploaded: u64,
    /// What failed.
    pub failures: Vec<String>,
}

fn known_of(record: Option<&ReplicaRecord>) -> KnownReferrers {
    record.map_or_else(KnownReferrers::default, |r| KnownReferrers {
        manifests: r.referrers.iter().cloned().collect(),
        tags: r.referrer_tags.clone(),
    })
}

/// Carry the referrers of every image in `carries`. `pushed`: what this run's pushes made
/// each target point at, with the new record when imagectl recorded the push; `ledger`:
/// the earlier records. A record (imagectl's own tag) gets the referrers carried with it;
/// an up-to-date tag imagectl did not push gets its referrers but no record, so it never
/// becomes imagectl's to delete.
pub async fn carry_referrers(
    carrier: &ReferrerCopier,
    carries: &[ReferrerCarry],
    pushed: &BTreeMap<Reference, (Digest, Option<ReplicaRecord>)>,
    ledger: &[ReplicaRecord],
    concurrency: usize,
) -> CarryResult {
    let jobs: Vec<_> = carries
        .iter()
        // A failed lookup is in the plan's failures already.
        .filter(|c| !carrier.finder().failed(&c.source, &c.digest))
        .filter_map(|c| {
            let (at_target, record) = match &c.current {
                Some(d) => (
                    d.clone(),
                    ledger
                        .iter()
                        .find(|r| r.target == c.target && r.pushed_digest == *d)
                        .cloned(),
                ),
                None => {
                    let (d, record) = pushed.get(&c.target)?;
                    (d.clone(), record.clone())
                }
            };
            Some((c, at_target, record))
        })
        .collect();
    let results: Vec<_> = stream::iter(jobs)
        .map(|(c, at_target, record)| async move {
            let known = known_of(record.as_ref());
            let carried = async {
                let image = carrier.finder().find(&c.source, &c.digest, None).await?;
                let found = image.for_target(&at_target, &c.platforms);
                carrier
                    .carry_found(&c.source, found, &c.target, &known)
                    .await
            }
            .await;
            (c, record, known, carried)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut out = CarryResult::default();
    for (c, record, known, carried) in results {
        match carried {
            Ok(carried) => {
                out.pushed += carried.pushed;
                out.blobs_uploaded += carried.blobs_uploaded;
                out.bytes_uploaded += carried.bytes_uploaded;
                if let Some(mut record) = record
                    && (carried.held != known || c.current.is_none())
                {
                    record.referrers = carried.held.manifests.into_iter().collect();
                    record.referrer_tags = carried.held.tags;
                    out.records.push(record);
                }
            }
            Err(e) => out.failures.push(format!(
                "carrying the referrers of {} to {}: {e}",
                c.source, c.target
            )),
        }
    }
    out
}

/// Delete what `record` says imagectl carried with its tag: the referrer tags (only while
/// they still hold what imagectl put there) and the referrer manifests. Skipped while the
/// image itself is still in the repository (a registry that deletes tags alone, or a tag
/// someone else points at it) or another tag imagectl keeps (`others`) points at it: the
/// referrers are that image's too.
pub async fn delete_referrers(
    client: &RegistryClient,
    record: &ReplicaRecord,
    others: &[&ReplicaRecord],
) -> Result<usize, RegistryError> {
    let repo = record.target.without_digest();
    let shared = others.iter().any(|o| {
        o.target != record.target
            && o.target.name() == record.target.name()
            && o.pushed_digest == record.pushed_digest
    });
    if shared
        || client
            .head_manifest_at_origin(&repo.with_digest(record.pushed_digest.clone()))
            .await?
            .is_some()
    {
        return Ok(0);
    }
    let mut deleted = 0;
    for (tag, digest) in &record.referrer_tags {
        let Ok(at) = repo.with_tag(tag) else { continue };
        if client.head_manifest_at_origin(&at).await?.as_ref() == Some(digest)
            && client
                .delete_manifest_by_digest(&repo.with_digest(digest.clone()))
                .await?
        {
            deleted += 1;
        }
    }
    for digest in &record.referrers {
        if client
            .delete_manifest_by_digest(&repo.with_digest(digest.clone()))
            .await?
        {
            deleted += 1;
        }
    }
    Ok(deleted)
}
