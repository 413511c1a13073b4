//! Images into and out of containerd through a private staging layout, as for the Docker
//! Engine: pull and load write and check everything there first; commit writes it into
//! containerd's content store the way CRI does (see `ingest`). Export reads an image's
//! blobs from containerd's content store into a staging layout for save and push.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use containerd_client::services::v1::ReadContentRequest;
use containerd_client::services::v1::content_client::ContentClient;
use futures_util::{StreamExt, TryStreamExt, stream};

use super::client::Conn;
use super::ingest::{Lease, Target, ingest};
use super::inventory::content_sizes;
use crate::oci::{Digest, Reference};
use crate::store::image_store::{ImageExport, ImageImport};
use crate::store::layout::LayoutStore;
use crate::store::staging::{StagingDir, staged_inventory, staging};
use crate::store::{
    BlobWrite, Catalog, CatalogEntry, Inventory, InventoryImage, Store, StoreError,
};

/// Images written into containerd at once (each unpacks its layers in the daemon).
const INGESTS: usize = 4;

/// An import in progress.
pub struct Import {
    conn: Conn,
    snapshotter: String,
    _dir: StagingDir,
    layout: Arc<LayoutStore>,
}

impl Import {
    pub fn begin(conn: Conn, snapshotter: String) -> Result<Self, StoreError> {
        let (dir, layout) = staging()?;
        Ok(Self {
            conn,
            snapshotter,
            _dir: dir,
            layout,
        })
    }
}

#[async_trait]
impl ImageImport for Import {
    fn content(&self) -> Arc<dyn Store> {
        self.layout.clone()
    }

    async fn commit(self: Box<Self>, sources: &[(Reference, Digest)]) -> Result<(), StoreError> {
        let staged = staged_inventory(&self.layout).await?;
        let mut images = staged.images;
        // The registry digest each name resolved to, for its `repo@digest` record.
        for image in &mut images {
            for (name, digest) in sources {
                if image.names.contains(name) {
                    image.sources.insert(name.clone(), digest.clone());
                }
            }
        }
        // Largest first: its layers unpack one after the other (each on its parent), so it
        // sets the pace; the small images fill the other cores meanwhile.
        images.sort_by_key(|i| std::cmp::Reverse(i.size()));
        let present = content_sizes(&self.conn).await?;
        let lease = Lease::create(&self.conn).await?;
        let source: Arc<dyn Store> = self.layout.clone();
        let target = Target {
            conn: &self.conn,
            snapshotter: &self.snapshotter,
            present: &present,
            lease: &lease,
        };
        let (target, source) = (&target, &source);
        let result: Result<Vec<()>, StoreError> = stream::iter(images)
            .map(|image| async move { ingest(target, source, &image).await })
            .buffer_unordered(INGESTS)
            .try_collect()
            .await;
        // Named images hold their content now; what a failure left is the lease's.
        let released = lease.release(&self.conn).await;
        result?;
        released
    }
}

/// Content exported for reading.
pub struct Export {
    _dir: StagingDir,
    layout: Arc<LayoutStore>,
    staged: Inventory,
}

impl Export {
    /// Copy every blob of `images` out of containerd and name them as there.
    pub async fn run(conn: &Conn, images: &[&InventoryImage]) -> Result<Self, StoreError> {
        let (dir, layout) = staging()?;
        let mut blobs: HashMap<Digest, u64> = HashMap::new();
        for image in images {
            blobs.extend(image.blobs.iter().map(|(d, s)| (d.clone(), *s)));
        }
        stream::iter(blobs)
            .map(|(digest, size)| copy_out(conn, layout.clone(), digest, size))
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        let entries: Vec<CatalogEntry> = images
            .iter()
            .flat_map(|i| {
                let names: Vec<Option<Reference>> = if i.names.is_empty() {
                    vec![None]
                } else {
                    i.names.iter().cloned().map(Some).collect()
                };
                names.into_iter().map(|n| {
                    let source = n.as_ref().and_then(|n| i.sources.get(n).cloned());
                    CatalogEntry::new(n, i.target.clone(), source)
                })
            })
            .collect();
        let staged = {
            let layout = layout.clone();
            tokio::task::spawn_blocking(move || {
                layout.update(&mut |all| {
                    all.extend(entries.iter().cloned());
                    Ok(())
                })?;
                Inventory::load(&*layout)
            })
            .await
            .expect("staging task panicked")?
        };
        Ok(Self {
            _dir: dir,
            layout,
            staged,
        })
    }
}

/// One blob from containerd's content store into the staging layout, verified there.
async fn copy_out(
    conn: &Conn,
    layout: Arc<LayoutStore>,
    digest: Digest,
    size: u64,
) -> Result<(), StoreError> {
    let mut reply = ContentClient::new(conn.channel.clone())
        .read(conn.req(ReadContentRequest {
            digest: digest.to_string(),
            offset: 0,
            size: 0,
        }))
        .await
        .map_err(|s| conn.error(&format!("reading {digest}"), s))?
        .into_inner();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let writer = {
        let digest = digest.clone();
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            let mut sink = layout.blob_writer(&digest, size)?;
            while let Some(chunk) = rx.blocking_recv() {
                sink.write_all(&chunk)
                    .map_err(|e| StoreError::io("staging", digest.to_string(), e))?;
            }
            sink.commit()
        })
    };
    let mut read_error = None;
    loop {
        match reply.message().await {
            Ok(Some(chunk)) => {
                if tx.send(chunk.data).await.is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(s) => {
                read_error = Some(conn.error(&format!("reading {digest}"), s));
                break;
            }
        }
    }
    drop(tx);
    let written = writer.await.expect("staging task panicked");
    match read_error {
        Some(e) => Err(e),
        None => written,
    }
}

impl ImageExport for Export {
    fn content(&self) -> Arc<dyn Store> {
        self.layout.clone()
    }

    fn staged(&self, image: &InventoryImage) -> Option<InventoryImage> {
        self.staged
            .images
            .iter()
            .find(|s| s.target.digest == image.target.digest)
            .cloned()
    }
}
