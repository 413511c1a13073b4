//! Images into and out of the Engine through a private staging layout.
//!
//! Import: pull and load write into a staging layout with every check they make on the
//! embedded store; commit writes that layout as one docker-archive straight into the
//! body of `POST /images/load` (a pipe, never a file), then records which registry
//! digest each name came from. Export: `GET /images/get` read into a staging layout,
//! with the same checks as `imagectl load`. The staging directory goes when dropped.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bollard::Docker;
use bollard::query_parameters::{ImportImageOptions, ListImagesOptions};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::connect::daemon_error;
use crate::oci::{Digest, Reference};
use crate::store::image_store::{ArchiveCodec, ImageExport, ImageImport};
use crate::store::layout::LayoutStore;
use crate::store::staging::{StagingDir, staged_inventory, staging};
use crate::store::state;
use crate::store::{Inventory, InventoryImage, Store, StoreError};

/// Chunks of archive in flight between the writer thread and the HTTP body.
const PIPE_DEPTH: usize = 16;
const CHUNK: usize = 256 << 10;

/// An import in progress.
pub struct Import {
    docker: Docker,
    codec: Arc<dyn ArchiveCodec>,
    state_dir: PathBuf,
    _dir: StagingDir,
    layout: Arc<LayoutStore>,
}

impl Import {
    /// A new, empty staging layout.
    pub fn begin(
        docker: Docker,
        codec: Arc<dyn ArchiveCodec>,
        state_dir: PathBuf,
    ) -> Result<Self, StoreError> {
        let (dir, layout) = staging()?;
        Ok(Self {
            docker,
            codec,
            state_dir,
            _dir: dir,
            layout,
        })
    }
}

/// A `Write` that hands fixed-size chunks to the async side.
struct PipeWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl PipeWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the Engine stopped reading")
        })
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

#[async_trait]
impl ImageImport for Import {
    fn content(&self) -> Arc<dyn Store> {
        self.layout.clone()
    }

    async fn commit(self: Box<Self>, sources: &[(Reference, Digest)]) -> Result<(), StoreError> {
        let staged = staged_inventory(&self.layout).await?;
        let groups = balanced(staged.images, load_streams());
        let loads = groups
            .into_iter()
            .map(|group| load_one(&self.docker, self.layout.clone(), self.codec.clone(), group));
        // Every load runs to its end; the first failure is reported.
        let mut first_error = None;
        for res in futures_util::future::join_all(loads).await {
            if let Err(e) = res {
                first_error.get_or_insert(e);
            }
        }
        // Names that did arrive are recorded even when another load failed.
        record_sources(&self.docker, &self.state_dir, sources).await?;
        first_error.map_or(Ok(()), Err)
    }
}

/// Concurrent loads into the Engine. One `POST /images/load` registers its images one
/// after the other; two in parallel took a load of 100 small images from 6.6 s to 4.1 s
/// on a 2-core host (Docker 20.10, vfs), four gained nothing more.
fn load_streams() -> usize {
    std::env::var("IMAGECTL_DOCKER_LOAD_STREAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(2)
}

/// `images` in at most `n` groups of about equal bytes, largest first.
fn balanced(mut images: Vec<InventoryImage>, n: usize) -> Vec<Vec<InventoryImage>> {
    images.sort_by_key(|i| std::cmp::Reverse(i.size()));
    let mut groups: Vec<(u64, Vec<InventoryImage>)> =
        (0..n.min(images.len())).map(|_| (0, Vec::new())).collect();
    for image in images {
        let lightest = groups
            .iter_mut()
            .min_by_key(|(bytes, _)| *bytes)
            .expect("at least one group");
        lightest.0 += image.size();
        lightest.1.push(image);
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// One archive of `images`, written by a blocking thread straight into the body of one
/// `POST /images/load`.
async fn load_one(
    docker: &Docker,
    layout: Arc<LayoutStore>,
    codec: Arc<dyn ArchiveCodec>,
    images: Vec<InventoryImage>,
) -> Result<(), StoreError> {
    match load_once(docker, layout.clone(), codec.clone(), images.clone()).await {
        // The containerd image store's garbage collector can take a parent snapshot (of an
        // image the same load just replaced) while the load unpacks onto it; the load then
        // fails as a whole and names nothing. Seen with dockerd 26.1; once more succeeds.
        Err(StoreError::Daemon(m))
            if m.contains("failed to unpack loaded image") && m.contains("does not exist") =>
        {
            tracing::info!("the Engine lost a snapshot while unpacking ({m}); loading again");
            load_once(docker, layout, codec, images).await
        }
        other => other,
    }
}

async fn load_once(
    docker: &Docker,
    layout: Arc<LayoutStore>,
    codec: Arc<dyn ArchiveCodec>,
    images: Vec<InventoryImage>,
) -> Result<(), StoreError> {
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(PIPE_DEPTH);
    let writer = tokio::task::spawn_blocking(move || {
        let mut out = PipeWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let res = codec
            .write_docker_archive(&*layout, &images, &mut out)
            .and_then(|()| {
                out.flush()
                    .map_err(|e| StoreError::io("streaming", "the archive to the Engine", e))
            });
        if let Err(e) = &res {
            // The body ends in an error: the Engine sees a broken upload, not a short
            // archive it might half load.
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
        res
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut answers = docker.import_image_stream(
        ImportImageOptions {
            quiet: true,
            ..Default::default()
        },
        body,
        None,
    );
    let mut refused = None;
    while let Some(item) = answers.next().await {
        if let Err(e) = item {
            refused.get_or_insert(e);
        }
    }
    writer.await.expect("archive writer panicked")?;
    refused.map_or(Ok(()), |e| Err(daemon_error(e)))
}

/// Note which registry digest each loaded name came from, against the Engine's image ID
/// it now names, and forget records of names that moved since.
async fn record_sources(
    docker: &Docker,
    state_dir: &std::path::Path,
    sources: &[(Reference, Digest)],
) -> Result<(), StoreError> {
    let list = docker
        .list_images(Some(ListImagesOptions::default()))
        .await
        .map_err(daemon_error)?;
    let mut current: BTreeMap<Reference, Digest> = BTreeMap::new();
    for image in &list {
        let Ok(id) = image.id.parse::<Digest>() else {
            continue;
        };
        for tag in &image.repo_tags {
            if let Ok(r) = Reference::parse(tag) {
                current.insert(r, id.clone());
            }
        }
    }
    let mut doc = state::Sources::parse(state::read(state_dir, state::SOURCES)?);
    for (name, source) in sources {
        if let Some(id) = current.get(name) {
            doc.set(name.clone(), id.clone(), source.clone());
        }
    }
    doc.retain_current(&current);
    state::write(state_dir, state::SOURCES, &doc.to_bytes())
}

/// Images exported from the Engine into a staging layout.
pub struct Export {
    _dir: StagingDir,
    layout: Arc<LayoutStore>,
    staged: Inventory,
}

/// A `Read` over chunks arriving from the async side.
struct PipeReader {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    chunk: Bytes,
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(c)) => self.chunk = c,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len());
        out[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

impl Export {
    /// `GET /images/get` of `images` (by a name where they have one, else by ID), read
    /// into a staging layout.
    pub async fn run(
        docker: &Docker,
        images: &[&InventoryImage],
        codec: Arc<dyn ArchiveCodec>,
    ) -> Result<Self, StoreError> {
        let (dir, layout) = staging()?;
        let names: Vec<String> = images
            .iter()
            .map(|i| match i.names.iter().find(|n| n.tag().is_some()) {
                Some(n) => format!("{}:{}", n.familiar_name(), n.tag().unwrap_or("latest")),
                None => i.id.to_string(),
            })
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut stream = docker.export_images(&refs);
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(PIPE_DEPTH);
        let reader = {
            let layout = layout.clone();
            tokio::task::spawn_blocking(move || {
                codec.read_archive(
                    &*layout,
                    Box::new(PipeReader {
                        rx,
                        chunk: Bytes::new(),
                    }),
                )?;
                Inventory::load(&*layout)
            })
        };
        while let Some(item) = stream.next().await {
            let item = item.map_err(|e| std::io::Error::other(daemon_error(e).to_string()));
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
        drop(tx);
        let staged = reader.await.expect("archive reader panicked")?;
        Ok(Self {
            _dir: dir,
            layout,
            staged,
        })
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
            .find(|s| {
                s.id == image.id
                    || s.target.digest == image.id
                    || s.names.iter().any(|n| image.names.contains(n))
            })
            .or_else(|| (self.staged.images.len() == 1).then(|| &self.staged.images[0]))
            .cloned()
    }
}
