//! Referrers travel with images: the signatures, attestations and SBOMs of an image's index
//! and platform manifests, as the [`ReferrerFinder`] found them at the source, copied byte
//! for byte (digests preserved), and listed at a target without the referrers API by
//! maintaining its fallback tag.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;

use super::copy::{Copier, CopyRequest};
use super::error::ExecError;
use super::referrers_find::{
    Found, ReferrerFinder, bare, descriptor_digest, fallback_tag, invalid,
};
use crate::oci::{Digest, Reference, media};
use crate::registry::RegistryClient;

/// What a target already holds of an image's referrers, as an earlier run recorded it: with
/// nothing new at the source, the target is not asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownReferrers {
    /// Referrer manifests in the target repository.
    pub manifests: BTreeSet<Digest>,
    /// Tags of referrers (cosign's `.sig`, `.att`, the fallback index) and what they hold.
    pub tags: BTreeMap<String, Digest>,
}

/// What carrying one image's referrers did.
#[derive(Clone, Debug, Default)]
pub struct CarriedReferrers {
    /// Everything of the image's referrers the target now holds.
    pub held: KnownReferrers,
    /// Referrer manifests and tags written to the target in this run.
    pub pushed: usize,
    /// Blobs sent.
    pub blobs_uploaded: usize,
    /// Bytes sent.
    pub bytes_uploaded: u64,
}

/// Carries referrers for a run's copies, sharing the run's [`Copier`] and its
/// [`ReferrerFinder`] (whose lookups a plan may already have made).
pub struct ReferrerCopier {
    copier: Arc<Copier>,
    client: RegistryClient,
    finder: Arc<ReferrerFinder>,
}

impl ReferrerCopier {
    /// A carrier copying through `copier` (whose client writes to targets) what `finder`
    /// finds.
    pub fn new(copier: Arc<Copier>, client: RegistryClient, finder: Arc<ReferrerFinder>) -> Self {
        Self {
            copier,
            client,
            finder,
        }
    }

    /// The finder this carrier uses.
    pub(super) fn finder(&self) -> &ReferrerFinder {
        &self.finder
    }

    /// Carry the referrers of the image `source` points at (`top`: its manifest or index
    /// digest, which the target holds under `target`'s repository) and of its platform
    /// manifests. `known`: what the target held after the last run; only what differs is
    /// copied, and nothing is asked of the target when nothing differs.
    pub async fn carry(
        &self,
        source: &Reference,
        top: &Digest,
        target: &Reference,
        known: &KnownReferrers,
    ) -> Result<CarriedReferrers, ExecError> {
        let tgt_repo = bare(target)?;
        let image = self.finder.find(source, top, Some(&tgt_repo)).await?;
        self.carry_found(source, image.for_target(top, &[]), target, known)
            .await
    }

    /// Carry `found` (referrers of manifests of the image at `source`) to `target`'s
    /// repository, as [`ReferrerCopier::carry`] does.
    pub(super) async fn carry_found(
        &self,
        source: &Reference,
        found: Vec<&Found>,
        target: &Reference,
        known: &KnownReferrers,
    ) -> Result<CarriedReferrers, ExecError> {
        // Bare repositories: a referrer is pushed by digest, never under the image's tag.
        let src_repo = bare(source)?;
        let tgt_repo = bare(target)?;
        let mut out = CarriedReferrers::default();
        // Referrers listed at the source but gone there, and what hangs from them: found
        // level by level, a subject is met before its own referrers, so one pass drops
        // them all rather than listing them at the target under a subject it lacks.
        let mut gone: BTreeSet<Digest> = BTreeSet::new();
        for f in found {
            if gone.contains(&f.subject) {
                gone.extend(f.referrers());
                continue;
            }
            let mut new = Vec::new();
            for d in &f.descriptors {
                let Some(digest) = descriptor_digest(d) else {
                    continue;
                };
                if known.manifests.contains(&digest) {
                    out.held.manifests.insert(digest);
                    continue;
                }
                let copied = self
                    .copy_one(
                        &src_repo.with_digest(digest.clone()),
                        &tgt_repo.with_digest(digest.clone()),
                        Some(digest.clone()),
                        &mut out,
                    )
                    .await;
                match copied {
                    Ok(()) => {}
                    // A fallback index may still list a referrer deleted since: not one
                    // to carry.
                    Err(ExecError::Registry(e)) if e.is_not_found() => {
                        tracing::warn!(%digest, "a referrer listed at {src_repo} is gone there");
                        gone.insert(digest);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                out.held.manifests.insert(digest);
                new.push(d.clone());
            }
            let tag = fallback_tag(&f.subject);
            if !new.is_empty()
                && let Some(written) = self.list_at_target(&tgt_repo, f, &new, &mut out).await?
            {
                out.held.tags.insert(tag.clone(), written);
            } else if let Some(d) = known.tags.get(&tag) {
                out.held.tags.insert(tag.clone(), d.clone());
            }
            for (tag, digest) in &f.tags {
                out.held.tags.insert(tag.clone(), digest.clone());
                if known.tags.get(tag) == Some(digest) {
                    continue;
                }
                self.copy_one(
                    &src_repo.with_tag(tag).map_err(invalid)?,
                    &tgt_repo.with_tag(tag).map_err(invalid)?,
                    Some(digest.clone()),
                    &mut out,
                )
                .await?;
            }
        }
        Ok(out)
    }

    /// The referrers of the manifests `held` of the image `top` of `source`'s repository
    /// (and of those referrers, when the finder follows them), found the way
    /// [`Self::carry`] finds them: `(subject, referrer, tag)`, the tag set for cosign's
    /// tag-named ones (`sha256-<hex>.sig`).
    pub async fn list(
        &self,
        source: &Reference,
        top: &Digest,
        held: &BTreeSet<Digest>,
    ) -> Result<Vec<(Digest, Digest, Option<String>)>, ExecError> {
        let image = self.finder.find_held(source, top, held).await?;
        let mut out = Vec::new();
        for f in &image.subjects {
            for d in f.descriptors.iter().filter_map(descriptor_digest) {
                out.push((f.subject.clone(), d, None));
            }
            for (tag, d) in &f.tags {
                out.push((f.subject.clone(), d.clone(), Some(tag.clone())));
            }
        }
        Ok(out)
    }

    /// Make `target`'s repository list `new` (referrers just pushed there, as descriptors)
    /// among the referrers of `subject`: its fallback index, when it has no referrers API.
    pub async fn list_at(
        &self,
        target: &Reference,
        subject: &Digest,
        new: &[serde_json::Value],
    ) -> Result<CarriedReferrers, ExecError> {
        let tgt_repo = bare(target)?;
        let found = Found {
            subject: subject.clone(),
            platform: None,
            descriptors: new.to_vec(),
            fallback_index: None,
            tags: Vec::new(),
        };
        let mut out = CarriedReferrers::default();
        if let Some(d) = self
            .list_at_target(&tgt_repo, &found, new, &mut out)
            .await?
        {
            out.held.tags.insert(fallback_tag(subject), d);
        }
        Ok(out)
    }

    async fn copy_one(
        &self,
        source: &Reference,
        target: &Reference,
        digest: Option<Digest>,
        out: &mut CarriedReferrers,
    ) -> Result<(), ExecError> {
        let req = CopyRequest {
            source: source.clone(),
            target: target.clone(),
            platforms: Vec::new(),
            source_digest: digest,
            target_checked: false,
        };
        let done = self.copier.copy(&req).await?;
        if !done.up_to_date {
            out.pushed += 1;
            out.blobs_uploaded += done.blobs_uploaded;
            out.bytes_uploaded += done.bytes_uploaded;
        }
        Ok(())
    }

    /// Make a target without the referrers API list `new` in its fallback index of
    /// `found.subject` (a registry with the API lists them by itself). Returns the
    /// fallback tag's digest when the target uses one.
    async fn list_at_target(
        &self,
        tgt_repo: &Reference,
        found: &Found,
        new: &[serde_json::Value],
        out: &mut CarriedReferrers,
    ) -> Result<Option<Digest>, ExecError> {
        if self
            .client
            .referrers(tgt_repo, &found.subject)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let tag_ref = tgt_repo
            .with_tag(&fallback_tag(&found.subject))
            .map_err(invalid)?;
        let existing = self.client.get_manifest_at_origin(&tag_ref).await?;
        let mut entries: Vec<serde_json::Value> = match &existing {
            Some(m) => serde_json::from_slice::<serde_json::Value>(&m.bytes)
                .ok()
                .and_then(|v| v["manifests"].as_array().cloned())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let before = entries.len();
        for d in new {
            if !entries
                .iter()
                .any(|e| descriptor_digest(e) == descriptor_digest(d))
            {
                entries.push(d.clone());
            }
        }
        if let Some(m) = &existing
            && entries.len() == before
        {
            return Ok(Some(m.digest.clone()));
        }
        // A target without the index gets the source's own when it lists the same, so
        // the tag's digest is preserved too.
        let bytes = match (&existing, &found.fallback_index) {
            (None, Some(src)) if entries.len() == found.descriptors.len() => src.clone(),
            _ => Bytes::from(
                serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": media::OCI_INDEX,
                    "manifests": entries,
                })
                .to_string(),
            ),
        };
        let digest = self
            .client
            .put_manifest(&tag_ref, media::OCI_INDEX, bytes)
            .await?;
        out.pushed += 1;
        Ok(Some(digest))
    }
}
