//! Finding an image's referrers at its source, once per run: the OCI 1.1 referrers API
//! where the registry has it (one query per manifest of the image), else the fallback tag
//! schema (`sha256-<hex>`, an index of referrers) and cosign's own `sha256-<hex>.sig`/
//! `.att`/`.sbom` tags, read only where the repository's tag list shows them. A plan looks
//! them up to count them and the replication that follows carries what was found, so a
//! run asks each source once.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{StreamExt, stream};

use super::error::ExecError;
use crate::oci::{Digest, Manifest, Platform, Reference};
use crate::plan::{Desired, ReferrersAtSource, SubjectReferrers};
use crate::registry::{RegistryClient, RegistryError};
use crate::store::{MAX_METADATA_BLOB, Store};

/// Images looked up at once while planning.
const FIND_CONCURRENCY: usize = 16;

/// Levels of referrers of referrers a finder [`ReferrerFinder::following_referrers`] asks
/// about below an image's own (a signature of an SBOM is one level, a countersignature of
/// that two). The store keeps any depth (`store::hanging_from` is a fixpoint), but a
/// registry is asked once per referrer and level: the bound keeps a chain someone keeps
/// extending (or a listing that names referrers in a loop) from costing requests without
/// end. Signing tools stop at one or two levels.
const NESTED_LEVELS: usize = 3;
/// Referrers asked about for their own referrers, per image, for the same reason.
const NESTED_CAP: usize = 256;

/// The referrers of one manifest at the source.
pub(super) struct Found {
    pub(super) subject: Digest,
    /// Its platform, for a platform manifest of an index.
    pub(super) platform: Option<Platform>,
    /// Descriptors of manifests whose `subject` is it.
    pub(super) descriptors: Vec<serde_json::Value>,
    /// The source's fallback index, when that is where they were found.
    pub(super) fallback_index: Option<Bytes>,
    /// cosign-style tags (`sha256-<hex>.sig`) and their digests.
    pub(super) tags: Vec<(String, Digest)>,
}

impl Found {
    /// The digests of the referrers found, listed and tagged.
    pub(super) fn referrers(&self) -> Vec<Digest> {
        self.descriptors
            .iter()
            .filter_map(descriptor_digest)
            .chain(self.tags.iter().map(|(_, d)| d.clone()))
            .collect()
    }
}

/// The referrers of one image at its source: of its top manifest and, for an index, of
/// each platform manifest.
pub struct SourceImage {
    top: Digest,
    /// The image's index, when it was read (it is only when a platform manifest may have
    /// referrers).
    index: Option<Manifest>,
    /// Manifests with referrers.
    pub(super) subjects: Vec<Found>,
}

impl SourceImage {
    /// The manifests whose referrers a target holding `at_target` carries: all of them when
    /// it holds the image itself, else (a target keeping `platforms`) the platform
    /// manifests it keeps, and below them the referrers of the referrers it gets (a
    /// signature of the SBOM of a kept platform, not of the source index's SBOM).
    pub(super) fn for_target(&self, at_target: &Digest, platforms: &[Platform]) -> Vec<&Found> {
        if *at_target == self.top || platforms.is_empty() {
            return self.subjects.iter().collect();
        }
        let mut carried: BTreeSet<Digest> = match &self.index {
            Some(index) => platforms
                .iter()
                .filter_map(|p| index.select(p).first().map(|d| d.digest.clone()))
                .collect(),
            None => BTreeSet::new(),
        };
        // A referrer's own referrers follow it in `subjects` (found level by level).
        let mut out = Vec::new();
        for f in &self.subjects {
            if carried.contains(&f.subject) {
                carried.extend(f.referrers());
                out.push(f);
            }
        }
        out
    }

    /// What a plan reads of it.
    fn summary(&self) -> Vec<SubjectReferrers> {
        self.subjects
            .iter()
            .map(|f| SubjectReferrers {
                subject: f.subject.clone(),
                platform: f.platform.clone(),
                manifests: f.descriptors.iter().filter_map(descriptor_digest).collect(),
                tags: f.tags.iter().cloned().collect(),
            })
            .collect()
    }
}

/// A repository's tag list, filled by the first lookup that needs it.
type TagCell = Arc<tokio::sync::OnceCell<Arc<Vec<String>>>>;
/// Whether a registry has the referrers API, once known.
type ApiCell = Arc<tokio::sync::Mutex<Option<bool>>>;
/// One image's lookup, kept with its failure so a run reports it once and never retries.
type ImageCell = Arc<tokio::sync::OnceCell<Result<Arc<SourceImage>, String>>>;

/// Looks up referrers at sources for one run, remembering per repository its tag list,
/// per registry whether it lacks the referrers API, and per image what was found.
pub struct ReferrerFinder {
    client: RegistryClient,
    /// The local store, whose copy of an index spares asking the source for it.
    content: Option<Arc<dyn Store>>,
    tags: Mutex<HashMap<String, TagCell>>,
    /// Per registry: whether it has the referrers API (`None`: not asked yet). The first
    /// query holds the cell, so concurrent lookups ask a registry without it once.
    api: Mutex<HashMap<String, ApiCell>>,
    images: Mutex<HashMap<(String, Digest), ImageCell>>,
    /// Whether a lookup also asks for the referrers of the referrers it finds.
    nested: bool,
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

impl ReferrerFinder {
    /// A finder asking through `client` (give it one that shares tag lists with the run's
    /// expansion: [`RegistryClient::sharing_tag_lists`]), reading indexes from `content`
    /// when it holds them.
    pub fn new(client: RegistryClient, content: Option<Arc<dyn Store>>) -> Self {
        Self {
            client,
            content,
            tags: Mutex::default(),
            api: Mutex::default(),
            images: Mutex::default(),
            nested: false,
        }
    }

    /// The same finder, also asking for the referrers of the referrers it finds (at most
    /// [`NESTED_LEVELS`] levels deep): what a save writes, so an archive carries what the
    /// store would keep, and what a replication, copy or push carries, so a signature of
    /// an SBOM reaches the target as `oras cp -r` would take it.
    pub fn following_referrers(mut self) -> Self {
        self.nested = true;
        self
    }

    /// The client it asks through.
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// The referrers of the image `top` in `repo` (any reference; its name is used).
    /// `elsewhere`: a repository holding `top` when the source may not (an index of some
    /// platforms made for a copy's target), to read its platform manifests from.
    pub async fn find(
        &self,
        repo: &Reference,
        top: &Digest,
        elsewhere: Option<&Reference>,
    ) -> Result<Arc<SourceImage>, ExecError> {
        let repo = bare(repo)?;
        let cell = lock(&self.images)
            .entry((repo.name(), top.clone()))
            .or_default()
            .clone();
        let found = cell
            .get_or_init(|| async {
                self.look_up(&repo, top, elsewhere, None)
                    .await
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .await;
        found.clone().map_err(ExecError::ReferrersLookup)
    }

    /// The referrers of the manifests `held` of the image `top` in `repo` (those an
    /// archive of it holds: with `--platform`, one platform manifest and not the index),
    /// asking the source about those only. Not remembered: a save asks once per image.
    pub async fn find_held(
        &self,
        repo: &Reference,
        top: &Digest,
        held: &BTreeSet<Digest>,
    ) -> Result<SourceImage, ExecError> {
        self.look_up(&bare(repo)?, top, None, Some(held)).await
    }

    /// Look up the referrers of every wanted image of `desired` that a replication target
    /// carries them for, concurrently: what the plan counts.
    pub async fn find_wanted(&self, desired: &Desired) -> Vec<ReferrersAtSource> {
        if !desired.replicas.iter().any(|t| t.referrers) {
            return Vec::new();
        }
        let mut images: Vec<(Reference, Digest)> = desired
            .entries
            .iter()
            .filter_map(|e| e.wanted.as_ref().ok())
            .flatten()
            .map(|w| (w.name.clone(), w.digest.clone()))
            .collect();
        images.sort();
        images.dedup();
        stream::iter(images)
            .map(|(source, digest)| async move {
                let found = self
                    .find(&source, &digest, None)
                    .await
                    .map(|image| image.summary())
                    .map_err(|e| e.to_string());
                ReferrersAtSource {
                    source,
                    digest,
                    found,
                }
            })
            .buffered(FIND_CONCURRENCY)
            .collect()
            .await
    }

    /// Whether looking up `top` in `repo` failed in this run (the plan said so already).
    pub(super) fn failed(&self, repo: &Reference, top: &Digest) -> bool {
        lock(&self.images)
            .get(&(repo.name(), top.clone()))
            .and_then(|c| c.get())
            .is_some_and(Result::is_err)
    }

    /// The referrers of `top` and its platform manifests (of those in `held` only, when
    /// given), and of those referrers when the finder follows them.
    async fn look_up(
        &self,
        repo: &Reference,
        top: &Digest,
        elsewhere: Option<&Reference>,
        held: Option<&BTreeSet<Digest>>,
    ) -> Result<SourceImage, ExecError> {
        let tags = self.source_tags(repo).await?;
        let mut image = SourceImage {
            top: top.clone(),
            index: None,
            subjects: Vec::new(),
        };
        let wanted = |d: &Digest| held.is_none_or(|h| h.contains(d));
        if wanted(top) {
            // The top first: its query tells whether the registry has the API at all.
            let first = self.find_one(repo, top, None, &tags).await?;
            image.subjects.extend(first);
        }
        let api = *self.api_cell(repo).lock().await == Some(true);
        // Without the API a platform manifest's referrers (and those of a referrer) show
        // as a fallback tag of another subject; with none in the list there is nothing to
        // read the index for.
        let top_tag = fallback_tag(top);
        let others = tags
            .iter()
            .any(|t| is_fallback_tag(t) && !t.starts_with(&top_tag));
        if wanted(top) && !(api || others) {
            return Ok(image);
        }
        image.index = self.index(repo, top, elsewhere).await?;
        if let Some(Manifest::Index { manifests, .. }) = &image.index {
            for child in manifests.iter().filter(|c| wanted(&c.digest)) {
                let found = self
                    .find_one(repo, &child.digest, child.platform.clone(), &tags)
                    .await?;
                image.subjects.extend(found);
            }
        }
        if self.nested {
            self.follow(repo, &mut image, &tags).await?;
        }
        Ok(image)
    }

    /// Add to `image` the referrers of its referrers, level by level, within
    /// [`NESTED_LEVELS`] and [`NESTED_CAP`]. On the fallback schema a referrer without a
    /// tag of its own in `tags` costs no request.
    async fn follow(
        &self,
        repo: &Reference,
        image: &mut SourceImage,
        tags: &[String],
    ) -> Result<(), ExecError> {
        let mut asked: BTreeSet<Digest> =
            image.subjects.iter().map(|f| f.subject.clone()).collect();
        let mut level: Vec<Digest> = image.subjects.iter().flat_map(Found::referrers).collect();
        for _ in 0..NESTED_LEVELS {
            let mut next = Vec::new();
            for d in level {
                if asked.len() >= NESTED_CAP {
                    tracing::warn!(%d, "more referrers of referrers than {NESTED_CAP}: not asked further");
                    return Ok(());
                }
                if !asked.insert(d.clone()) {
                    continue;
                }
                if let Some(found) = self.find_one(repo, &d, None, tags).await? {
                    next.extend(found.referrers());
                    image.subjects.push(found);
                }
            }
            if next.is_empty() {
                return Ok(());
            }
            level = next;
        }
        tracing::warn!(
            "{}@{}: referrers more than {NESTED_LEVELS} levels below the image's own were not asked about",
            repo.name(),
            image.top
        );
        Ok(())
    }

    /// The manifest `top`: from the local store when it holds it (content addressed, so
    /// the same bytes), else from the source, else from `elsewhere`.
    async fn index(
        &self,
        repo: &Reference,
        top: &Digest,
        elsewhere: Option<&Reference>,
    ) -> Result<Option<Manifest>, ExecError> {
        if let Some(store) = &self.content
            && let Ok(bytes) = store.read_blob(top, MAX_METADATA_BLOB)
            && let Ok(m) = Manifest::parse(&bytes, None)
        {
            return Ok(Some(m));
        }
        let fetched = match self
            .client
            .get_manifest(&repo.with_digest(top.clone()))
            .await
        {
            Err(e) if e.is_not_found() && elsewhere.is_some() => {
                let at = bare(elsewhere.expect("checked"))?.with_digest(top.clone());
                self.client.get_manifest(&at).await
            }
            other => other,
        }?;
        Ok(Some(fetched.manifest))
    }

    /// The referrers of `subject`, or `None` when it has none.
    async fn find_one(
        &self,
        repo: &Reference,
        subject: &Digest,
        platform: Option<Platform>,
        tags: &[String],
    ) -> Result<Option<Found>, ExecError> {
        let tag = fallback_tag(subject);
        let mut found = Found {
            subject: subject.clone(),
            platform,
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
        Ok((!found.descriptors.is_empty() || !found.tags.is_empty()).then_some(found))
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
pub(super) fn bare(r: &Reference) -> Result<Reference, ExecError> {
    Reference::parse_loose(&r.name()).map_err(invalid)
}

pub(super) fn descriptor_digest(d: &serde_json::Value) -> Option<Digest> {
    d["digest"]
        .as_str()?
        .parse::<Digest>()
        .ok()
        .filter(|d| d.verifiable().is_ok())
}

pub(super) fn invalid(e: crate::oci::ReferenceError) -> ExecError {
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
