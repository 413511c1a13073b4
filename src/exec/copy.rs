//! Copy: an image from one registry repository to another, digests preserved. Blobs go
//! straight from the source registry (or the local store, when it holds them) into the
//! target's upload, never through a temp file or a whole-blob buffer; blobs the target
//! has are skipped, blobs it has in another repository are mounted; manifests are pushed
//! last, children before their index, so a tag never points at incomplete content.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use tokio::sync::{OnceCell, Semaphore};

use super::ExecError;
use super::blob_sources::{RegistrySource, StoreSource};
use super::select::walk_error;
use crate::image::{ImageTree, Node, Selection, Walk, WalkError, local, pick};
use crate::oci::{Descriptor, Digest, Manifest, Platform, Reference, filter_index};
use crate::registry::{RegistryClient, RegistryError, Remote};
use crate::store::{Content, Store, StoreError};

/// Blob transfers (HEAD, mount or upload) in flight at once per target registry, across
/// every copy running through one [`Copier`].
pub const BLOBS_PER_REGISTRY: usize = 8;
/// Blobs up to this size are uploaded without a HEAD first (see `transfer_permitted`).
const UPLOAD_WITHOUT_ASKING: u64 = 256 << 10;

/// One image to copy.
#[derive(Clone, Debug)]
pub struct CopyRequest {
    /// A tag or digest reference in a registry.
    pub source: Reference,
    /// A tag reference (usually in another registry) that will point at the copy.
    pub target: Reference,
    /// Empty: the whole image (every platform of an index, the index itself, digest
    /// preserved). One platform of an index: just that platform's manifest, digest
    /// preserved, and the target tag points at it. Several: a filtered index holding those
    /// platforms, whose digest necessarily differs from the source index's.
    pub platforms: Vec<Platform>,
    /// The source digest when the caller already resolved the source (a HEAD): saves
    /// that request, and with `platforms` empty an up-to-date target costs one request.
    pub source_digest: Option<Digest>,
    /// The caller has just seen that the target tag does not hold this image (a plan's
    /// HEAD): the copy skips its own look.
    pub target_checked: bool,
}

/// What a copy did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyOutcome {
    /// What the target tag now points at.
    pub digest: Digest,
    /// The target already had it: nothing was uploaded or pushed.
    pub up_to_date: bool,
    /// Blobs whose bytes were sent.
    pub blobs_uploaded: usize,
    /// Blobs linked from another repository of the target registry without sending bytes.
    pub blobs_mounted: usize,
    /// Blobs the target repository already had (or another copy of this run handled).
    pub blobs_present: usize,
    /// Bytes sent in blob uploads.
    pub bytes_uploaded: u64,
}

/// How one blob reached the target repository.
#[derive(Clone, Copy, Debug)]
enum Moved {
    Present,
    Mounted,
    Uploaded(u64),
}

/// Copies images between registries. Share one per run (`Arc<Copier>`): it remembers which
/// blobs each target repository holds (to skip HEADs and to mount from a sibling
/// repository), never moves one blob into one repository twice at once, and bounds the
/// transfers per target registry.
pub struct Copier {
    client: RegistryClient,
    store: Option<Arc<dyn Store>>,
    /// `registry/repository@digest` → how the blob got there (set once, by the first).
    blobs: Mutex<HashMap<String, Arc<OnceCell<Moved>>>>,
    /// (registry, digest) → repositories of that registry known to hold the blob.
    holders: Mutex<HashMap<(String, Digest), BTreeSet<String>>>,
    /// Target registry → transfer permits.
    limits: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl std::fmt::Debug for Copier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Copier")
            .field("store", &self.store.as_ref().map(|s| s.location()))
            .finish_non_exhaustive()
    }
}

impl Copier {
    /// A copier using `client` for both sides and, when given, reading blobs the local
    /// `store` holds from disk instead of the source registry.
    pub fn new(client: RegistryClient, store: Option<Arc<dyn Store>>) -> Self {
        Self {
            client,
            store,
            blobs: Mutex::default(),
            holders: Mutex::default(),
            limits: Mutex::default(),
        }
    }

    /// Copy one image (see [`CopyRequest`]). Idempotent: when the target tag already
    /// points at what would be pushed, returns `up_to_date` having sent nothing (one HEAD
    /// to the target when the source digest is known and `platforms` is empty).
    pub async fn copy(&self, req: &CopyRequest) -> Result<CopyOutcome, ExecError> {
        // A sha512 pin could never match what the target has: say why before asking it.
        RegistryError::require_verifiable(&req.source)?;
        let target = if req.target.tag().is_some() {
            req.target.without_digest()
        } else {
            req.target.clone()
        };
        let source_digest = match (&req.source_digest, req.source.digest()) {
            (Some(d), _) | (None, Some(d)) => d.clone(),
            // A registry that sends no digest on HEAD answers a GET, which the client
            // keeps for the GET by digest below.
            (None, None) => self
                .client
                .current_digest(&req.source)
                .await?
                .ok_or_else(|| RegistryError::ManifestUnknown {
                    reference: req.source.to_string(),
                })?,
        };
        let mut checked_target = req.target_checked;
        if !checked_target && req.platforms.is_empty() {
            checked_target = true;
            if let Some(done) = self.up_to_date(&target, &source_digest).await? {
                return Ok(done);
            }
        }

        let source = req.source.without_digest().with_digest(source_digest);
        let top = self.client.get_manifest(&source).await?.into_node();
        // Known from the index alone, so an up-to-date platform selection costs no GET of
        // a platform manifest (Docker Hub counts those against its pull limit).
        let digest = tag_target(&source, &top, &req.platforms)?;
        if !checked_target && let Some(done) = self.up_to_date(&target, &digest).await? {
            return Ok(done);
        }
        let select = if req.platforms.is_empty() {
            Selection::All
        } else {
            Selection::Each(&req.platforms)
        };
        let walk = Walk {
            select,
            configs: false,
        };
        let tree = ImageTree::below(&Remote::new(&self.client, &source), top, &walk)
            .await
            .map_err(|e| walk_error(&source.to_string(), e))?;
        let tree = as_pushed(tree, &req.platforms)?;
        debug_assert_eq!(tree.top.desc.digest, digest);

        self.push_tree(Some(&source), &target, tree).await
    }

    /// Push an image the local store holds (`image`: its manifest or index, as the store's
    /// catalogue names it) to `target`, every blob read from the store. Idempotent like
    /// [`Copier::copy`]. The store keeps Docker schema2 images as their OCI equivalent, so
    /// such an image is pushed as OCI and its digest differs from the one at the registry
    /// it was pulled from (config and layers, hence the image ID, are the same).
    pub async fn push_from_store(
        &self,
        image: &Descriptor,
        target: &Reference,
    ) -> Result<CopyOutcome, ExecError> {
        let store = self.store.clone().ok_or(ExecError::NoLocalStore)?;
        let target = if target.tag().is_some() {
            target.without_digest()
        } else {
            target.clone()
        };
        if let Some(done) = self.up_to_date(&target, &image.digest).await? {
            return Ok(done);
        }
        let tree = local(ImageTree::read(&Content(&*store), image, &Walk::WHOLE))
            .map_err(|e| walk_error(&image.digest.to_string(), e))?;
        self.push_tree(None, &target, tree).await
    }

    /// Blobs, then children, then the top manifest under the target's tag.
    async fn push_tree(
        &self,
        source: Option<&Reference>,
        target: &Reference,
        tree: ImageTree,
    ) -> Result<CopyOutcome, ExecError> {
        let mut outcome = CopyOutcome {
            digest: tree.top.desc.digest.clone(),
            up_to_date: false,
            blobs_uploaded: 0,
            blobs_mounted: 0,
            blobs_present: 0,
            bytes_uploaded: 0,
        };
        // The futures are built before the stream (not by a closure inside it), which
        // keeps the whole copy future Send.
        let blobs = tree.blobs();
        let jobs: Vec<_> = blobs
            .iter()
            .map(|blob| self.ensure_blob(source, target, blob))
            .collect();
        let moved: Vec<Moved> = stream::iter(jobs)
            .buffer_unordered(BLOBS_PER_REGISTRY)
            .try_collect()
            .await?;
        for m in moved {
            match m {
                Moved::Present => outcome.blobs_present += 1,
                Moved::Mounted => outcome.blobs_mounted += 1,
                Moved::Uploaded(n) => {
                    outcome.blobs_uploaded += 1;
                    outcome.bytes_uploaded += n;
                }
            }
        }
        for child in tree.children {
            let at = target.without_digest().with_digest(child.desc.digest);
            let media_type = child.manifest.media_type();
            self.client
                .put_manifest(&at, media_type, child.bytes)
                .await?;
        }
        let media_type = tree.top.manifest.media_type();
        outcome.digest = self
            .client
            .put_manifest(target, media_type, tree.top.bytes)
            .await?;
        Ok(outcome)
    }

    /// `Some(up to date)` when `target` already points at `digest` (one HEAD).
    async fn up_to_date(
        &self,
        target: &Reference,
        digest: &Digest,
    ) -> Result<Option<CopyOutcome>, ExecError> {
        let current = self.client.current_digest(target).await?;
        Ok((current.as_ref() == Some(digest)).then(|| CopyOutcome {
            digest: digest.clone(),
            up_to_date: true,
            blobs_uploaded: 0,
            blobs_mounted: 0,
            blobs_present: 0,
            bytes_uploaded: 0,
        }))
    }

    /// Make `blob` present in `target`'s repository: known, HEAD, mount, or upload. Each
    /// (repository, blob) is handled once per copier; later askers count it as present.
    async fn ensure_blob(
        &self,
        source: Option<&Reference>,
        target: &Reference,
        blob: &Descriptor,
    ) -> Result<Moved, ExecError> {
        let key = format!("{}@{}", target.name(), blob.digest);
        let cell = lock(&self.blobs).entry(key).or_default().clone();
        let ran = AtomicBool::new(false);
        let moved = cell
            .get_or_try_init(|| {
                ran.store(true, Ordering::Relaxed);
                self.transfer(source, target, blob)
            })
            .await?;
        Ok(if ran.load(Ordering::Relaxed) {
            *moved
        } else {
            Moved::Present
        })
    }

    async fn transfer(
        &self,
        source: Option<&Reference>,
        target: &Reference,
        blob: &Descriptor,
    ) -> Result<Moved, ExecError> {
        let limit = lock(&self.limits)
            .entry(target.registry().to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(BLOBS_PER_REGISTRY)))
            .clone();
        let _permit = limit.acquire_owned().await.expect("semaphore never closed");
        let digest = &blob.digest;
        let moved = self.transfer_permitted(source, target, blob).await?;
        lock(&self.holders)
            .entry((target.registry().to_string(), digest.clone()))
            .or_default()
            .insert(target.repository().to_string());
        Ok(moved)
    }

    async fn transfer_permitted(
        &self,
        source: Option<&Reference>,
        target: &Reference,
        blob: &Descriptor,
    ) -> Result<Moved, ExecError> {
        let digest = &blob.digest;
        // Repositories of the target registry that hold the blob: the source itself when
        // both are one registry, then those this copier put it in. A mount answers 201
        // whether or not the repository had the blob, so with a candidate it replaces the
        // HEAD rather than following it.
        let mut from: Vec<String> = Vec::new();
        if let Some(source) = source
            && source.registry() == target.registry()
            && source.repository() != target.repository()
        {
            from.push(source.repository().to_string());
        }
        if let Some(known) =
            lock(&self.holders).get(&(target.registry().to_string(), digest.clone()))
        {
            for r in known {
                if r != target.repository() && !from.contains(r) {
                    from.push(r.clone());
                }
            }
        }
        for repo in from.iter().take(3) {
            match self.client.mount_blob(target, digest, repo).await {
                Ok(true) => return Ok(Moved::Mounted),
                Ok(false) => {}
                // A mount only saves bytes: whatever stops it (a token without pull on
                // the other repository, a registry that refuses mounts), the upload may
                // still work, and reports its own error if not.
                Err(e) => {
                    tracing::debug!(%digest, "mount from {repo} failed: {e}");
                    break;
                }
            }
        }
        // Ask first only where asking can pay: an image config is unique to its image (a
        // copy of a new image almost never finds it at the target), and re-sending a small
        // blob costs about what the HEAD would. Uploading such a blob outright takes two
        // requests instead of three; each request is one authentication at the registry.
        let ask_first = !is_config(blob) && blob.size > UPLOAD_WITHOUT_ASKING;
        if ask_first && self.client.blob_exists(target, digest).await?.is_some() {
            return Ok(Moved::Present);
        }
        let local = match &self.store {
            Some(store) if store.blob_size(digest)? == Some(blob.size) => Some(store.clone()),
            _ => None,
        };
        let result = match (local, source) {
            (Some(store), _) => {
                let src = StoreSource {
                    store,
                    digest: digest.clone(),
                };
                self.client.push_blob(target, digest, blob.size, &src).await
            }
            (None, None) => return Err(StoreError::MissingBlob(digest.clone()).into()),
            (None, Some(source)) => {
                let src = RegistrySource {
                    client: self.client.clone(),
                    repo: source.clone(),
                    digest: digest.clone(),
                    size: blob.size,
                };
                self.client.push_blob(target, digest, blob.size, &src).await
            }
        };
        result?;
        Ok(Moved::Uploaded(blob.size))
    }
}

/// The digest the target tag will point at: the source's for a whole image or a single
/// platform, the filtered index's for several platforms.
fn tag_target(source: &Reference, top: &Node, platforms: &[Platform]) -> Result<Digest, ExecError> {
    let Manifest::Index { manifests, .. } = &top.manifest else {
        return Ok(top.desc.digest.clone());
    };
    if platforms.is_empty() {
        return Ok(top.desc.digest.clone());
    }
    let picked = pick(&top.manifest, &Selection::Each(platforms))
        .map_err(|e| walk_error::<ExecError>(&source.to_string(), WalkError::Platform(e)))?;
    if platforms.len() == 1 && picked.len() == 1 {
        return Ok(picked[0].digest.clone());
    }
    if picked.len() == manifests.len() {
        return Ok(top.desc.digest.clone());
    }
    let keep: Vec<Digest> = picked.iter().map(|c| c.digest.clone()).collect();
    Ok(Digest::of(&filter_index(
        &top.bytes,
        top.manifest.media_type(),
        &keep,
    )?))
}

/// The image as the target gets it: one platform asked for is that platform's manifest,
/// unchanged, under the tag; several are an index of just those.
fn as_pushed(mut tree: ImageTree, platforms: &[Platform]) -> Result<ImageTree, ExecError> {
    if !tree.is_index() || platforms.is_empty() {
        return Ok(tree);
    }
    if platforms.len() == 1 && tree.children.len() == 1 {
        let top = tree.children.pop().expect("one child");
        return Ok(ImageTree {
            top,
            children: Vec::new(),
            whole: true,
        });
    }
    if !tree.whole {
        let keep: Vec<Digest> = tree
            .children
            .iter()
            .map(|c| c.desc.digest.clone())
            .collect();
        let media_type = tree.top.manifest.media_type().to_string();
        let bytes = Bytes::from(filter_index(&tree.top.bytes, &media_type, &keep)?);
        let desc = Descriptor {
            media_type,
            digest: Digest::of(&bytes),
            size: bytes.len() as u64,
            platform: None,
        };
        tree.top = Node::parse(desc, bytes)?;
    }
    Ok(tree)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether `blob` is an image config (OCI or Docker), by its media type.
fn is_config(blob: &Descriptor) -> bool {
    blob.media_type.ends_with(".config.v1+json")
        || blob.media_type == "application/vnd.docker.container.image.v1+json"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replication spawns copies on the runtime: the futures and the copier must be Send
    /// (no lock guard held across an await), and errors must cross threads.
    #[test]
    fn copies_can_be_spawned() {
        fn send<T: Send>(_: &T) {}
        fn shared<T: Send + Sync>() {}
        shared::<Copier>();
        shared::<ExecError>();
        let copier = Copier::new(
            RegistryClient::new(Default::default()).expect("client"),
            None,
        );
        let req = CopyRequest {
            source: "127.0.0.1:1/a:1".parse().expect("reference"),
            target: "127.0.0.1:1/b:1".parse().expect("reference"),
            platforms: Vec::new(),
            source_digest: None,
            target_checked: false,
        };
        let desc = Descriptor {
            media_type: crate::oci::media::OCI_MANIFEST.into(),
            digest: Digest::of(b""),
            size: 0,
            platform: None,
        };
        send(&copier.copy(&req));
        send(&copier.push_from_store(&desc, &req.target));
    }
}
