//! Where copy reads the blobs it uploads: the source registry, or the local store when it
//! holds them. Each source can be opened again, so a failed upload restarts from its
//! first byte.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt, stream};

use crate::oci::{Digest, Reference};
use crate::registry::{BlobBody, BlobSource, RegistryClient, RegistryError};
use crate::store::Store;

/// Bytes read from the local store per chunk of an upload.
const STORE_CHUNK: usize = 256 << 10;
/// Chunks read ahead of the upload: bounds memory per upload to a few hundred KiB.
const STORE_READ_AHEAD: usize = 4;

/// A blob streamed from the source registry, opened anew for each upload attempt.
pub(super) struct RegistrySource {
    pub(super) client: RegistryClient,
    pub(super) repo: Reference,
    pub(super) digest: Digest,
    pub(super) size: u64,
}

impl BlobSource for RegistrySource {
    fn open(&self) -> BoxFuture<'_, Result<BlobBody, RegistryError>> {
        async move {
            let blob = self.client.get_blob(&self.repo, &self.digest).await?;
            if let Some(n) = blob.content_length
                && n != self.size
            {
                return Err(RegistryError::UploadSource {
                    digest: self.digest.clone(),
                    reason: format!(
                        "{} serves {n} bytes but the manifest says {}",
                        self.repo.name(),
                        self.size
                    ),
                });
            }
            Ok(blob.into_stream())
        }
        .boxed()
    }
}

/// A blob read from the local store by a blocking reader thread, a few chunks ahead.
pub(super) struct StoreSource {
    pub(super) store: Arc<dyn Store>,
    pub(super) digest: Digest,
}

impl BlobSource for StoreSource {
    fn open(&self) -> BoxFuture<'_, Result<BlobBody, RegistryError>> {
        let store = self.store.clone();
        let digest = self.digest.clone();
        async move {
            let (tx, rx) =
                tokio::sync::mpsc::channel::<Result<Bytes, RegistryError>>(STORE_READ_AHEAD);
            tokio::task::spawn_blocking(move || {
                let failed = |reason: String| RegistryError::UploadSource {
                    digest: digest.clone(),
                    reason,
                };
                let mut reader = match store.open_blob(&digest) {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(failed(e.to_string())));
                        return;
                    }
                };
                loop {
                    let mut buf = vec![0u8; STORE_CHUNK];
                    match reader.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            buf.truncate(n);
                            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                                return; // the upload was abandoned
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = tx.blocking_send(Err(failed(format!(
                                "reading it from {}: {e}",
                                store.location()
                            ))));
                            return;
                        }
                    }
                }
            });
            let body: BlobBody = stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            })
            .boxed();
            Ok(body)
        }
        .boxed()
    }
}
