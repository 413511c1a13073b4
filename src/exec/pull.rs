//! Pull: resolve every reference to manifests, download the union of missing blobs
//! concurrently (each blob once, whatever number of images share it), then name the
//! complete images in one catalogue update. Blobs go straight from the socket through
//! the hasher into the store's temporary file, so memory stays flat for any layer size.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::{StreamExt, stream};

use super::ExecError;
use super::blob_fetch::{BlobError, Downloaded, fetch_blob};
use super::pull_observer::{PullObserver, PulledImage};
use super::select::walk_error;
use crate::image::{
    ImageTree, Node, Prefer, Selection, StoredForm, Walk, WalkError, local, stored_form,
};
use crate::oci::{Descriptor, Digest, Platform, Reference};
use crate::registry::{RegistryClient, Remote};
use crate::store::{CatalogEntry, Content, Inventory, LockMode, StagedBlob, Store, set_name};

/// How to pull.
#[derive(Clone, Debug)]
pub struct PullOptions {
    /// The platforms to take from a multi-platform image: one gives that platform's image;
    /// several give an index holding just those.
    pub platforms: Vec<Platform>,
    /// Keep the whole index and every platform's image instead.
    pub all_platforms: bool,
    /// Blob downloads in flight at once.
    pub concurrency: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        Self {
            platforms: vec![Platform::host()],
            all_platforms: false,
            concurrency: 8,
        }
    }
}

/// What a pull did, for the summary line and for tests.
#[derive(Debug, Default)]
pub struct PullReport {
    /// Per requested reference, in the order given.
    pub results: Vec<(Reference, Result<PulledImage, ExecError>)>,
    /// Blobs fetched from a registry.
    pub blobs_downloaded: usize,
    /// Their bytes.
    pub bytes_downloaded: u64,
    /// Blobs the images needed that the store already had.
    pub blobs_present: usize,
}

/// A reference resolved to the manifests to store.
struct ToPull {
    reference: Reference,
    source_digest: Digest,
    state: Pulling,
}

/// What a resolved reference needs.
enum Pulling {
    /// Nothing: the store already holds exactly this.
    UpToDate(PulledImage),
    /// The image as the store will keep it, and the blobs it needs, fetched from the
    /// reference's repository.
    New {
        stored: StoredForm,
        blobs: Vec<Descriptor>,
    },
}

/// Pull `refs` into `store`. Per-reference failures are reported in the result and do not
/// stop the others; only failures of the store itself are returned as `Err`.
pub async fn pull(
    client: &RegistryClient,
    store: Arc<dyn Store>,
    refs: &[Reference],
    opts: &PullOptions,
    observer: Arc<dyn PullObserver>,
) -> Result<PullReport, ExecError> {
    let _lock = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.lock(LockMode::Shared))
            .await
            .expect("lock task panicked")?
    };
    let entries = store.entries()?;

    let resolved: Vec<Result<ToPull, ExecError>> = stream::iter(refs)
        .map(|r| resolve(client, &*store, &entries, r, opts))
        .buffered(opts.concurrency.max(1))
        .collect()
        .await;
    for (r, res) in refs.iter().zip(&resolved) {
        if let Ok(res) = res {
            let current = matches!(res.state, Pulling::UpToDate(_));
            observer.resolved(r, &res.source_digest, current);
        }
    }

    // The union of blobs to fetch, each from the first repository that needs it.
    let mut wanted: BTreeMap<Digest, (u64, Reference)> = BTreeMap::new();
    let mut present = 0usize;
    for res in resolved.iter().flatten() {
        let Pulling::New { blobs, .. } = &res.state else {
            continue;
        };
        for blob in blobs {
            if wanted.contains_key(&blob.digest) {
                continue;
            }
            if store.blob_size(&blob.digest)? == Some(blob.size) {
                present += 1;
                continue;
            }
            wanted.insert(blob.digest.clone(), (blob.size, res.reference.clone()));
        }
    }
    let mut report = PullReport {
        blobs_present: present,
        ..Default::default()
    };

    let outcomes: Vec<(Digest, Result<Downloaded, BlobError>)> = stream::iter(wanted)
        .map(|(digest, (size, repo))| {
            let store = store.clone();
            let observer = observer.clone();
            async move {
                let res = fetch_blob(client, store, &repo, &digest, size, &*observer).await;
                let error = res.as_ref().err().map(ToString::to_string);
                observer.blob_finished(&digest, error.as_deref());
                (digest, res)
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut failed: HashMap<Digest, Arc<BlobError>> = HashMap::new();
    // Verified but invisible until an image that needs them is complete; what is left
    // here at the end is deleted when dropped.
    let mut staged: HashMap<Digest, Box<dyn StagedBlob>> = HashMap::new();
    for (digest, res) in outcomes {
        match res {
            Ok((n, blob)) => {
                report.blobs_downloaded += 1;
                report.bytes_downloaded += n;
                staged.insert(digest, blob);
            }
            Err(reason) => {
                failed.insert(digest, Arc::new(reason));
            }
        }
    }

    // Write manifests of complete images, then name them all in one catalogue update.
    let mut finished: Vec<Result<PulledImage, ExecError>> = Vec::new();
    let mut new_entries = Vec::new();
    for res in resolved {
        let outcome = res.and_then(|r| {
            let (stored, blobs) = match r.state {
                Pulling::UpToDate(done) => return Ok(done),
                Pulling::New { stored, blobs } => (stored, blobs),
            };
            if let Some(b) = blobs.iter().find(|b| failed.contains_key(&b.digest)) {
                return Err(ExecError::BlobFailed {
                    reference: r.reference.to_string(),
                    digest: b.digest.clone(),
                    reason: failed[&b.digest].clone(),
                });
            }
            for b in &blobs {
                if let Some(blob) = staged.remove(&b.digest) {
                    blob.publish()?;
                }
            }
            for (digest, bytes) in &stored.documents {
                if store.blob_size(digest)? != Some(bytes.len() as u64) {
                    store.put_blob(digest, bytes)?;
                }
            }
            let name = stored_name(&r.reference);
            new_entries.push(CatalogEntry::new(
                Some(name.clone()),
                stored.target.clone(),
                Some(r.source_digest.clone()),
            ));
            Ok(PulledImage {
                name,
                target: stored.target.digest,
                id: stored.id,
                source_digest: r.source_digest,
                up_to_date: false,
            })
        });
        finished.push(outcome);
    }
    if !new_entries.is_empty() {
        // If the catalogue cannot be written nothing was named: the whole pull fails
        // (the verified blobs stay for the next attempt; prune removes them otherwise).
        store.update(&mut |entries| {
            for e in &new_entries {
                set_name(entries, e.clone());
            }
            Ok(())
        })?;
    }
    for (r, f) in refs.iter().zip(finished) {
        if let (Ok(img), Some(from)) = (&f, client.served_from(&r.to_string())) {
            tracing::info!("pulled {} from {from}", img.name);
        }
        observer.image_finished(r, &f);
        report.results.push((r.clone(), f));
    }
    Ok(report)
}

/// The name an image is stored under: `repo:tag`, or `repo@digest` when pulled by digest only.
pub(super) fn stored_name(reference: &Reference) -> Reference {
    if reference.tag().is_some() {
        reference.without_digest()
    } else {
        reference.clone()
    }
}

async fn resolve(
    client: &RegistryClient,
    store: &dyn Store,
    entries: &[CatalogEntry],
    reference: &Reference,
    opts: &PullOptions,
) -> Result<ToPull, ExecError> {
    let name = stored_name(reference);
    let existing = entries.iter().find(|e| e.name.as_ref() == Some(&name));
    // An unchanged tag costs one HEAD (which Docker Hub does not count against its rate
    // limit) and a pinned digest already stored costs nothing.
    let mut known = reference.digest().cloned();
    if let Some(e) = existing.filter(|e| platform_fits(e, opts) && is_complete(store, e))
        && let Some(src) = &e.source_digest
    {
        if known.is_none() {
            known = client.current_digest(reference).await?;
        }
        if known.as_ref() == Some(src) {
            return Ok(ToPull {
                reference: reference.clone(),
                source_digest: src.clone(),
                state: Pulling::UpToDate(PulledImage {
                    name,
                    target: e.target.digest.clone(),
                    id: stored_id(store, &e.target)?,
                    source_digest: src.clone(),
                    up_to_date: true,
                }),
            });
        }
    }
    // By the digest just learned: the manifest a registry without digests on HEAD sent
    // for it is in the client's cache, and a tag moving meanwhile changes nothing.
    let at = match &known {
        Some(d) => reference.with_digest(d.clone()),
        None => reference.clone(),
    };
    let top = client.get_manifest(&at).await?.into_node();
    let source_digest = top.desc.digest.clone();
    let select = if opts.all_platforms {
        Selection::All
    } else {
        Selection::Each(&opts.platforms)
    };
    // Manifests the store already has are read from disk.
    let source = Prefer {
        first: Content(store),
        then: Remote::new(client, reference),
    };
    let walk = Walk {
        select,
        configs: false,
    };
    let tree = ImageTree::below(&source, top, &walk)
        .await
        .map_err(|e| walk_error(&reference.to_string(), e))?;
    let keep_index = opts.all_platforms || tree.children.len() > 1;
    Ok(ToPull {
        reference: reference.clone(),
        source_digest,
        state: Pulling::New {
            stored: stored_form(&tree, keep_index)?,
            blobs: tree.blobs(),
        },
    })
}

/// Whether every blob the entry needs is present (a few local reads and stats), so a
/// damaged image is pulled again rather than reported up to date.
fn is_complete(store: &dyn Store, entry: &CatalogEntry) -> bool {
    Inventory::from_entries(store, vec![entry.clone()])
        .is_ok_and(|inv| inv.images.iter().all(|i| i.damage.is_empty()))
}

/// Whether an existing entry already holds what these options ask for.
fn platform_fits(entry: &CatalogEntry, opts: &PullOptions) -> bool {
    if opts.all_platforms || opts.platforms.len() > 1 {
        return crate::oci::media::is_index(&entry.target.media_type);
    }
    match (&entry.target.platform, opts.platforms.first()) {
        (Some(p), Some(want)) => want.matches(p),
        (Some(_), None) => false,
        (None, _) => !crate::oci::media::is_index(&entry.target.media_type),
    }
}

fn stored_id(store: &dyn Store, target: &Descriptor) -> Result<Digest, ExecError> {
    if crate::oci::media::is_index(&target.media_type) {
        return Ok(target.digest.clone());
    }
    Ok(match local(Node::read(&Content(store), target)) {
        Ok(node) => node
            .config_desc()
            .map_or(target.digest.clone(), |c| c.digest.clone()),
        Err(WalkError::Read { error, .. }) => return Err(error.into()),
        Err(_) => target.digest.clone(),
    })
}
