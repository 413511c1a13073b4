//! Referrers travel with images: the signatures, attestations and SBOMs of an image's index
//! and platform manifests, found at the source through the OCI 1.1 referrers API or, on a
//! registry without it, the fallback tag schema (`sha256-<hex>`, an index of referrers) and
//! cosign's own `sha256-<hex>.sig`/`.att`/`.sbom` tags; copied byte for byte (digests
//! preserved), and listed at a target without the API by maintaining its fallback tag.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::copy::{Copier, CopyRequest};
use super::error::ExecError;
use crate::oci::{Digest, Manifest, Reference, media};
use crate::registry::{RegistryClient, RegistryError};

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

/// The referrers of one subject at the source.
struct Found {
    subject: Digest,
    /// Descriptors of manifests whose `subject` is it.
    descriptors: Vec<serde_json::Value>,
    /// The source's fallback index, when that is where they were found.
    fallback_index: Option<Bytes>,
    /// cosign-style tags (`sha256-<hex>.sig`) and their digests.
    tags: Vec<(String, Digest)>,
}

/// A repository's tag list, filled by the first carry that needs it.
type TagCell = Arc<tokio::sync::OnceCell<Arc<Vec<String>>>>;
/// Whether a registry has the referrers API, once known.
type ApiCell = Arc<tokio::sync::Mutex<Option<bool>>>;

/// Carries referrers for a run's copies. Shares the run's [`Copier`] and remembers, per
/// source repository, its tag list, and per registry whether it lacks the referrers API.
pub struct ReferrerCopier {
    copier: Arc<Copier>,
    client: RegistryClient,
    /// One cell per repository, so concurrent carries of one repository list it once.
    tags: Mutex<HashMap<String, TagCell>>,
    /// Per registry: whether it has the referrers API (`None`: not asked yet). The first
    /// query holds the cell, so concurrent carries ask a registry without it once.
    api: Mutex<HashMap<String, ApiCell>>,
}

/// The fallback tag of a subject: `sha256-<hex>`.
pub fn fallback_tag(subject: &Digest) -> String {
    subject.to_string().replacen(':', "-", 1)
}

/// Whether `tag` belongs to the fallback schema (a referrers index or a cosign tag).
pub fn is_fallback_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-").is_some_and(|rest| {
        let hex = rest.split('.').next().unwrap_or("");
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

impl ReferrerCopier {
    /// A carrier copying through `copier` (whose client it uses for lookups).
    pub fn new(copier: Arc<Copier>, client: RegistryClient) -> Self {
        Self {
            copier,
            client,
            tags: Mutex::default(),
            api: Mutex::default(),
        }
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
        // Bare repositories: a referrer is pushed by digest, never under the image's tag.
        let src_repo = bare(source)?;
        let tgt_repo = bare(target)?;
        let found = self.discover(&src_repo, top, &tgt_repo).await?;
        let mut out = CarriedReferrers::default();
        for f in found {
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
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                out.held.manifests.insert(digest);
                new.push(d.clone());
            }
            let tag = fallback_tag(&f.subject);
            if !new.is_empty()
                && let Some(written) = self.list_at_target(&tgt_repo, &f, &new, &mut out).await?
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

    /// The referrers of the image `top` of `source`'s repository and of its platform
    /// manifests, found the way [`Self::carry`] finds them: `(subject, referrer, tag)`,
    /// the tag set for cosign's tag-named ones (`sha256-<hex>.sig`).
    pub async fn list(
        &self,
        source: &Reference,
        top: &Digest,
    ) -> Result<Vec<(Digest, Digest, Option<String>)>, ExecError> {
        let repo = bare(source)?;
        let found = self.discover(&repo, top, &repo).await?;
        let mut out = Vec::new();
        for f in &found {
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

    /// The referrers of `top` and, for an index, of its platform manifests. An index of
    /// some platforms imagectl made for the target is not at the source: its platform
    /// manifests are read from the target's copy (`tgt_repo`).
    async fn discover(
        &self,
        repo: &Reference,
        top: &Digest,
        tgt_repo: &Reference,
    ) -> Result<Vec<Found>, ExecError> {
        let tags = self.source_tags(repo).await?;
        let api = *self.api_cell(repo).lock().await != Some(false);
        let top_tag = fallback_tag(top);
        let others = tags
            .iter()
            .any(|t| is_fallback_tag(t) && !t.starts_with(&top_tag));
        let mut subjects = vec![top.clone()];
        if api || others {
            let index = match self
                .client
                .get_manifest(&repo.with_digest(top.clone()))
                .await
            {
                Err(e) if e.is_not_found() => {
                    self.client
                        .get_manifest(&tgt_repo.with_digest(top.clone()))
                        .await
                }
                other => other,
            }?;
            if let Manifest::Index { manifests, .. } = &index.manifest {
                subjects.extend(manifests.iter().map(|c| c.digest.clone()));
            }
        }
        let mut out = Vec::new();
        for subject in subjects {
            let f = self.discover_one(repo, &subject, &tags).await?;
            if !f.descriptors.is_empty() || !f.tags.is_empty() {
                out.push(f);
            }
        }
        Ok(out)
    }

    async fn discover_one(
        &self,
        repo: &Reference,
        subject: &Digest,
        tags: &[String],
    ) -> Result<Found, ExecError> {
        let tag = fallback_tag(subject);
        let mut found = Found {
            subject: subject.clone(),
            descriptors: Vec::new(),
            fallback_index: None,
            tags: Vec::new(),
        };
        let cell = self.api_cell(repo);
        let from_api = {
            let mut known = cell.lock().await;
            match *known {
                Some(false) => None,
                Some(true) => {
                    drop(known);
                    self.client.referrers(repo, subject).await?
                }
                None => {
                    let listed = self.client.referrers(repo, subject).await?;
                    *known = Some(listed.is_some());
                    listed
                }
            }
        };
        match from_api {
            Some(list) => found.descriptors = list,
            None if tags.contains(&tag) => {
                let index_ref = repo.with_tag(&tag).map_err(invalid)?;
                if let Some(m) = self.client.get_manifest_at_origin(&index_ref).await? {
                    let v: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap_or_default();
                    found.descriptors = v["manifests"].as_array().cloned().unwrap_or_default();
                    found.fallback_index = Some(m.bytes);
                }
            }
            None => {}
        }
        for t in tags.iter().filter(|t| {
            t.strip_prefix(tag.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
        }) {
            let r = repo.with_tag(t).map_err(invalid)?;
            if let Some(d) = self.client.head_manifest_at_origin(&r).await? {
                found.tags.push((t.clone(), d));
            }
        }
        Ok(found)
    }

    fn api_cell(&self, repo: &Reference) -> ApiCell {
        lock(&self.api)
            .entry(repo.registry().to_string())
            .or_default()
            .clone()
    }

    /// The source repository's tags, listed once per run.
    async fn source_tags(&self, repo: &Reference) -> Result<Arc<Vec<String>>, ExecError> {
        let cell = lock(&self.tags).entry(repo.name()).or_default().clone();
        let listed = cell
            .get_or_try_init(|| async {
                match self.client.list_tags(repo).await {
                    Ok(t) => Ok(Arc::new(t)),
                    Err(e) if e.is_not_found() => Ok(Arc::new(Vec::new())),
                    Err(e) => Err(ExecError::from(e)),
                }
            })
            .await?;
        Ok(listed.clone())
    }
}

/// `registry/repository` with neither tag nor digest.
fn bare(r: &Reference) -> Result<Reference, ExecError> {
    Reference::parse_loose(&r.name()).map_err(invalid)
}

fn descriptor_digest(d: &serde_json::Value) -> Option<Digest> {
    d["digest"]
        .as_str()?
        .parse::<Digest>()
        .ok()
        .filter(|d| d.verifiable().is_ok())
}

fn invalid(e: crate::oci::ReferenceError) -> ExecError {
    RegistryError::InvalidResponse {
        url: "-".into(),
        reason: format!("a referrer tag is not a valid reference: {e}"),
    }
    .into()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_tags() {
        let d: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(fallback_tag(&d), format!("sha256-{}", "ab".repeat(32)));
        assert!(is_fallback_tag(&fallback_tag(&d)));
        assert!(is_fallback_tag(&format!("{}.sig", fallback_tag(&d))));
        assert!(!is_fallback_tag("sha256-abc"));
        assert!(!is_fallback_tag("1.0.0"));
    }
}
