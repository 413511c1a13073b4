//! Downloading one blob from a registry into the store: bytes flow from the socket through
//! the store's hashing writer to a temporary file. A transfer that breaks (reset, truncated
//! body, stalled read) resumes with `Range: bytes=N-`, the hash carrying on over the whole
//! blob; size and digest are verified before the blob can become visible. Bytes from a
//! mirror that fail verification are never stored: the blob is fetched again from the next
//! endpoint, and that mirror is not asked for it again.

use std::sync::Arc;

use futures_util::TryStreamExt;

use super::pull_observer::PullObserver;
use crate::oci::{Digest, Reference};
use crate::registry::{RegistryClient, RegistryError};
use crate::store::{BlobSink, StagedBlob, Store, StoreError};

/// Attempts per blob (the first plus resumes after a broken transfer) before the pull of
/// its images fails. Each attempt's request is itself retried by the registry client on
/// 5xx, 429 and connection failures.
pub(crate) const MAX_BLOB_ATTEMPTS: u32 = 5;

/// Bytes fetched over the network and the verified, not yet visible blob.
pub(super) type Downloaded = (u64, Box<dyn StagedBlob>);

/// Why one blob could not be downloaded. Every image that needs the blob fails with it;
/// the pull keeps the error itself (not its text) so a caller can still ask what kind of
/// failure it was.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The registry refused or failed the request (after the client's own retries).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The store could not take the bytes, or they did not verify.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The transfer kept breaking mid-body; resumes stopped after `attempts`.
    #[error("{error} (gave up after {attempts} attempts)")]
    GaveUp {
        /// The last broken transfer.
        error: RegistryError,
        /// Attempts made, the first included.
        attempts: u32,
    },
}

/// Download one blob into the store, verified, resuming after transient failures up to
/// [`MAX_BLOB_ATTEMPTS`] times. The error displays as one line for the user.
pub(super) async fn fetch_blob(
    client: &RegistryClient,
    store: Arc<dyn Store>,
    repo: &Reference,
    digest: &Digest,
    size: u64,
    observer: &dyn PullObserver,
) -> Result<Downloaded, BlobError> {
    observer.blob_started(digest, size);
    loop {
        let mut tally = Tally::default();
        match fetch_verified(client, &store, repo, digest, size, observer, &mut tally).await {
            // Bytes that are not the blob, and a mirror served (some of) them: never stored;
            // start over without that mirror. Ends: each round distrusts another mirror.
            Err(BlobError::Store(e)) if e.is_unverified() && !tally.mirrors.is_empty() => {
                tracing::debug!("blob {digest}: {e}");
                for m in &tally.mirrors {
                    client.distrust_mirror(m, digest);
                }
                observer.blob_restarted(digest);
            }
            other => return other,
        }
    }
}

/// What one download received: bytes over the network, and the mirrors that served them.
#[derive(Default)]
struct Tally {
    received: u64,
    mirrors: Vec<String>,
}

/// One verified download, resumed after broken transfers, counted in `tally`.
async fn fetch_verified(
    client: &RegistryClient,
    store: &Arc<dyn Store>,
    repo: &Reference,
    digest: &Digest,
    size: u64,
    observer: &dyn PullObserver,
    tally: &mut Tally,
) -> Result<Downloaded, BlobError> {
    let mut sink = store.blob_writer(digest, size)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match fetch_into(client, repo, digest, size, &mut *sink, tally, observer).await {
            Ok(()) => break,
            // Only a transfer that broke is resumed here: the client already retried each
            // request's 5xx, 429 and connection failures with backoff (and Retry-After).
            Err(BlobError::Registry(e @ RegistryError::Body { .. }))
                if attempt < MAX_BLOB_ATTEMPTS =>
            {
                let wait = crate::registry::backoff(attempt - 1);
                tracing::info!(
                    "blob {digest}: {e}; resuming at byte {} of {size} in {}ms (attempt {}/{MAX_BLOB_ATTEMPTS})",
                    sink.written(),
                    wait.as_millis(),
                    attempt + 1
                );
                tokio::time::sleep(wait).await;
            }
            Err(BlobError::Registry(e @ RegistryError::Body { .. })) => {
                return Err(BlobError::GaveUp {
                    error: e,
                    attempts: attempt,
                });
            }
            Err(e) => return Err(e),
        }
    }
    // The one slow step, fsync, runs off the runtime.
    let staged = tokio::task::spawn_blocking(move || sink.finish())
        .await
        .expect("finish task panicked")?;
    Ok((tally.received, staged))
}

/// One request for the part of the blob `sink` does not have yet, written into it.
async fn fetch_into(
    client: &RegistryClient,
    repo: &Reference,
    digest: &Digest,
    size: u64,
    sink: &mut dyn BlobSink,
    tally: &mut Tally,
    observer: &dyn PullObserver,
) -> Result<(), BlobError> {
    let from = sink.written();
    if from > 0 && from >= size {
        // Every byte arrived before the connection broke: `finish` verifies them.
        return Ok(());
    }
    let mut blob = client.get_blob_from(repo, digest, from).await?;
    if blob.offset != from {
        tracing::info!(
            "blob {digest}: asked for bytes {from}- but the registry sent bytes {}-; starting over",
            blob.offset
        );
        sink.restart()?;
        observer.blob_restarted(digest);
        if blob.offset != 0 {
            drop(blob);
            blob = client.get_blob_from(repo, digest, 0).await?;
        }
    }
    if let Some(m) = &blob.mirror
        && !tally.mirrors.contains(m)
    {
        tally.mirrors.push(m.clone());
    }
    let mut body = blob.into_stream();
    while let Some(chunk) = body.try_next().await? {
        // Writes land in the page cache; fsync happens once, in `finish`.
        sink.write_all(&chunk)
            .map_err(|e| StoreError::io("writing", digest.to_string(), e))?;
        tally.received += chunk.len() as u64;
        observer.blob_progress(digest, chunk.len() as u64);
    }
    Ok(())
}
