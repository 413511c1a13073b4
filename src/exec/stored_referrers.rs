//! Referrers between a registry and the store, for air-gapped transfers: `save
//! --referrers` fetches an image's signatures, attestations and SBOMs from the registry its
//! name points at into the store (kept beside the image, so a later save or push has them
//! without asking again), and `push --referrers` sends the ones the store keeps (from a
//! loaded archive) to the target, listed there the way the target supports.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Value, json};

use super::blob_fetch::fetch_blob;
use super::copy::Copier;
use super::error::ExecError;
use super::pull_observer::PullObserver;
use super::referrers::{CarriedReferrers, ReferrerCopier};
use super::referrers_find::ReferrerFinder;
use crate::oci::{Descriptor, Digest, Manifest, Reference};
use crate::registry::{RegistryClient, RegistryError};
use crate::store::{MAX_METADATA_BLOB, Store, StoredReferrer, is_referrer, referrer_entry};

struct Quiet;
impl PullObserver for Quiet {}

/// Fetch the referrers of the manifests `held` of the image stored as `top` (those an
/// archive of it holds), and the referrers of those, from the repository `source` names
/// into `store`, each verified (manifest digest, blob digests and sizes). With `keep` (all
/// of the image's manifests were asked about) each is kept as a referrer of its subject:
/// the set the store would keep had it loaded them. Without, only their blobs are put
/// (for the archive; garbage collection frees them): a store keeping part of an image's
/// referrers would have a later save of all of it skip the registry and miss the rest.
/// Returns their manifests, with the tag of a cosign-style one.
pub async fn fetch_referrers(
    client: &RegistryClient,
    store: Arc<dyn Store>,
    source: &Reference,
    top: &Digest,
    held: &BTreeSet<Digest>,
    keep: bool,
) -> Result<Vec<(Descriptor, Option<String>)>, ExecError> {
    let finder = ReferrerFinder::new(client.clone(), Some(store.clone())).following_referrers();
    let carrier = ReferrerCopier::new(
        Arc::new(Copier::new(client.clone(), Some(store.clone()))),
        client.clone(),
        Arc::new(finder),
    );
    let repo = source.without_digest();
    let mut kept: Vec<(Descriptor, Digest, Option<String>)> = Vec::new();
    for (subject, digest, tag) in carrier.list(source, top, held).await? {
        if kept.iter().any(|(d, _, _)| d.digest == digest) {
            continue;
        }
        let at = Reference::parse_loose(&repo.name())
            .map_err(|e| invalid(source, e.to_string()))?
            .with_digest(digest.clone());
        let fetched = match client.get_manifest(&at).await {
            Err(e) if e.is_not_found() => {
                tracing::warn!(%digest, "a referrer listed at {} is gone there", repo.name());
                continue;
            }
            other => other?,
        };
        let Manifest::Image { .. } = &fetched.manifest else {
            tracing::warn!(%digest, "a referrer that is an index is not kept");
            continue;
        };
        // A listing (a fallback index anyone can write) may name a manifest of another
        // subject: kept only under the subject it names itself.
        if tag.is_none() && fetched.manifest.subject().map(|s| &s.digest) != Some(&subject) {
            tracing::warn!(%digest, %subject, "a listed referrer names another subject; not kept");
            continue;
        }
        for b in fetched.manifest.blobs() {
            if store.blob_size(&b.digest)? == Some(b.size) {
                continue;
            }
            let (_, staged) = fetch_blob(client, store.clone(), &at, &b.digest, b.size, &Quiet)
                .await
                .map_err(|reason| ExecError::BlobFailed {
                    reference: at.to_string(),
                    digest: b.digest.clone(),
                    reason: reason.into(),
                })?;
            staged.publish()?;
        }
        store.put_blob(&digest, &fetched.bytes)?;
        let desc = Descriptor {
            media_type: fetched.media_type.clone(),
            digest,
            size: fetched.bytes.len() as u64,
            platform: None,
        };
        kept.push((desc, subject, tag));
    }
    if keep && !kept.is_empty() {
        store.update(&mut |entries| {
            for (desc, subject, tag) in &kept {
                if !entries
                    .iter()
                    .any(|e| is_referrer(e) && e.target.digest == desc.digest)
                {
                    entries.push(referrer_entry(desc.clone(), subject, tag.as_deref()));
                }
            }
            Ok(())
        })?;
    }
    Ok(kept.into_iter().map(|(d, _, tag)| (d, tag)).collect())
}

/// Push `referrers` (kept in the copier's store, subjects first) into `target`'s
/// repository by digest, and list them there: through the target's referrers API, or in
/// the fallback index of each subject; a cosign-style one goes under its tag.
pub async fn push_stored_referrers(
    copier: Arc<Copier>,
    client: RegistryClient,
    store: &dyn Store,
    referrers: &[&StoredReferrer],
    target: &Reference,
) -> Result<CarriedReferrers, ExecError> {
    let repo =
        Reference::parse_loose(&target.name()).map_err(|e| invalid(target, e.to_string()))?;
    let finder = Arc::new(ReferrerFinder::new(client.clone(), None));
    let carrier = ReferrerCopier::new(copier.clone(), client, finder);
    let mut out = CarriedReferrers::default();
    let mut by_subject: BTreeMap<Digest, Vec<Value>> = BTreeMap::new();
    for r in referrers {
        let at = match &r.tag {
            Some(tag) => repo
                .with_tag(tag)
                .map_err(|e| invalid(target, e.to_string()))?,
            None => repo.with_digest(r.target.digest.clone()),
        };
        let done = copier.push_from_store(&r.target, &at).await?;
        if !done.up_to_date {
            out.pushed += 1;
            out.blobs_uploaded += done.blobs_uploaded;
            out.bytes_uploaded += done.bytes_uploaded;
        }
        if let Some(tag) = &r.tag {
            // cosign finds it by its tag; no index lists it.
            out.held.tags.insert(tag.clone(), r.target.digest.clone());
            continue;
        }
        out.held.manifests.insert(r.target.digest.clone());
        let bytes = store.read_blob(&r.target.digest, MAX_METADATA_BLOB)?;
        by_subject
            .entry(r.subject.clone())
            .or_default()
            .push(descriptor(&r.target, &bytes));
    }
    for (subject, new) in by_subject {
        let listed = carrier.list_at(&repo, &subject, &new).await?;
        out.pushed += listed.pushed;
        out.held.tags.extend(listed.held.tags);
    }
    Ok(out)
}

/// A referrer as a referrers list names it: with the manifest's `artifactType` (or its
/// config's media type) and annotations.
fn descriptor(target: &Descriptor, bytes: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let mut d = json!({
        "mediaType": target.media_type,
        "digest": target.digest.to_string(),
        "size": target.size,
    });
    if let Some(t) = v
        .get("artifactType")
        .or_else(|| v.pointer("/config/mediaType"))
        .and_then(Value::as_str)
    {
        d["artifactType"] = json!(t);
    }
    if let Some(a) = v.get("annotations").filter(|a| a.is_object()) {
        d["annotations"] = a.clone();
    }
    d
}

fn invalid(at: &Reference, reason: String) -> ExecError {
    ExecError::from(RegistryError::InvalidResponse {
        url: at.to_string(),
        reason,
    })
}
