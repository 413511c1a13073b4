//! Pulling into any image store: through its import transaction (pull writes into the
//! import's content, one commit makes it visible), or the backend's own pull where it is
//! chosen (the Engine's), with the same "one HEAD per unchanged tag" on every backend.

use std::sync::Arc;

use futures_util::{StreamExt, stream};

use super::ExecError;
use super::pull::{PullOptions, PullReport, pull, stored_name};
use super::pull_observer::{PullObserver, PulledImage};
use crate::oci::{Digest, Reference};
use crate::registry::RegistryClient;
use crate::store::{ImageStore, Inventory};

/// Pull `refs` into any image store, through its import transaction. Where the store has
/// no content of its own (a daemon), a name whose recorded source digest is still what the
/// registry serves is up to date for one HEAD, as on the embedded store; the rest are
/// pulled into the import's staging content and committed at once.
pub async fn pull_into(
    client: &RegistryClient,
    store: &dyn ImageStore,
    refs: &[Reference],
    opts: &PullOptions,
    observer: Arc<dyn PullObserver>,
) -> Result<PullReport, ExecError> {
    let mut current: Vec<(Reference, Result<PulledImage, ExecError>)> = Vec::new();
    let mut wanted: Vec<Reference> = refs.to_vec();
    if store.content().is_none() {
        let inventory = store.inventory().await?;
        let known: Vec<Option<PulledImage>> = stream::iter(refs)
            .map(|r| up_to_date_on(client, &inventory, r))
            .buffered(opts.concurrency.max(1))
            .collect()
            .await;
        wanted.clear();
        for (r, k) in refs.iter().zip(known) {
            match k {
                Some(img) => {
                    observer.resolved(r, &img.source_digest, true);
                    let done = Ok(img);
                    observer.image_finished(r, &done);
                    current.push((r.clone(), done));
                }
                None => wanted.push(r.clone()),
            }
        }
    }
    // A daemon can name an image by digest only when it pulled it itself (a load carries
    // tags alone), so a pinned reference without a tag goes through its own pull.
    let (native, wanted): (Vec<Reference>, Vec<Reference>) = wanted.into_iter().partition(|r| {
        store.pulls_natively() || (!store.imports_digest_names() && r.tag().is_none())
    });
    let mut report = PullReport::default();
    if !native.is_empty() {
        let pulled = native_pulls(client, store, &native, opts).await?;
        for (r, res) in &pulled {
            observer.image_finished(r, res);
        }
        current.extend(pulled);
    }
    if !wanted.is_empty() {
        let import = store.import(Arc::new(crate::archive::Codec)).await?;
        report = pull(client, import.content(), &wanted, opts, observer).await?;
        let sources: Vec<(Reference, Digest)> = report
            .results
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .map(|p| (p.name.clone(), p.source_digest.clone()))
            .collect();
        import.commit(&sources).await?;
    }
    // In the order asked.
    let mut results: Vec<(Reference, Result<PulledImage, ExecError>)> =
        current.into_iter().chain(report.results).collect();
    let position = |r: &Reference| refs.iter().position(|x| x == r).unwrap_or(usize::MAX);
    results.sort_by_key(|(r, _)| position(r));
    report.results = results;
    Ok(report)
}

/// The stored image `reference` names, when its recorded source is what the registry
/// serves now (one HEAD; none for a pinned digest).
async fn up_to_date_on(
    client: &RegistryClient,
    inventory: &Inventory,
    reference: &Reference,
) -> Option<PulledImage> {
    let name = stored_name(reference);
    let image = inventory.images.iter().find(|i| i.names.contains(&name))?;
    let source = image.sources.get(&name)?;
    let now = match reference.digest() {
        Some(d) => d.clone(),
        None => client.current_digest(reference).await.ok()??,
    };
    (&now == source).then(|| PulledImage {
        name,
        target: image.target.digest.clone(),
        id: image.id.clone(),
        source_digest: source.clone(),
        up_to_date: true,
    })
}

/// The backend pulls each reference itself (the Engine's own pull) with the credentials
/// imagectl resolved; what it stored is read back from its inventory.
async fn native_pulls(
    client: &RegistryClient,
    store: &dyn ImageStore,
    refs: &[Reference],
    opts: &PullOptions,
) -> Result<Vec<(Reference, Result<PulledImage, ExecError>)>, ExecError> {
    let platform = opts
        .platforms
        .first()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let outcomes: Vec<Result<(), ExecError>> = stream::iter(refs)
        .map(|r| {
            let platform = platform.clone();
            async move {
                let credentials = client
                    .credentials_for(r.registry())
                    .await?
                    .map(|c| (c.username, c.password));
                store.pull_native(r, &platform, credentials).await?;
                Ok(())
            }
        })
        .buffered(opts.concurrency.max(1))
        .collect()
        .await;
    let inventory = store.inventory().await?;
    Ok(refs
        .iter()
        .zip(outcomes)
        .map(|(r, outcome)| {
            let name = stored_name(r);
            let result = outcome.and_then(|()| {
                let image = inventory
                    .images
                    .iter()
                    .find(|i| {
                        i.names.contains(&name)
                            || (r.digest().is_some()
                                && i.repo_digests.iter().any(|d| {
                                    d.ends_with(
                                        &r.digest().map(|d| d.to_string()).unwrap_or_default(),
                                    )
                                }))
                    })
                    .ok_or_else(|| {
                        ExecError::Store(crate::store::StoreError::NoSuchImage(name.to_string()))
                    })?;
                Ok(PulledImage {
                    name: name.clone(),
                    target: image.target.digest.clone(),
                    id: image.id.clone(),
                    source_digest: image
                        .sources
                        .get(&name)
                        .cloned()
                        .or_else(|| r.digest().cloned())
                        .unwrap_or_else(|| image.id.clone()),
                    up_to_date: false,
                })
            });
            (r.clone(), result)
        })
        .collect())
}
