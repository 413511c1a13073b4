//! containerd as an image store (Kubernetes nodes: namespace `k8s.io`), through its gRPC
//! API and the CRI services on the same socket. imagectl reads the namespace's image
//! records, names and removes them itself, and brings images in the way CRI's pull does
//! (content under a lease, garbage-collection labels, layers unpacked into the CRI
//! snapshotter, CRI's three records), or through CRI `PullImage` when told to take the
//! kubelet's own path. It never removes what the kubelet needs: images of any container
//! (running or not), CRI's pinned images (the sandbox image), and images younger than the
//! kubelet's minimum garbage-collection age.

mod client;
mod containers;
mod cri;
mod ingest;
mod inventory;
mod transfer;
mod unpack;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use containerd_client::services::v1::DeleteImageRequest;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::version_client::VersionClient;
use containerd_client::tonic::Code;

use client::Conn;
pub use client::{default_address, default_namespace};

use super::image_store::{
    ArchiveCodec, Backend, ImageExport, ImageImport, ImageStore, RemoveEvent,
};
use super::removal::plan_removal;
use super::state;
use super::{Inventory, InventoryImage, LockGuard, LockMode, StoreError};
use crate::oci::Reference;

/// The kubelet's default `--minimum-image-ttl-duration`: it never collects a younger
/// image, and neither does imagectl.
pub const KUBELET_MIN_AGE: Duration = Duration::from_secs(120);
/// The snapshotter CRI unpacks into by default.
pub const DEFAULT_SNAPSHOTTER: &str = "overlayfs";

/// How to reach and treat a containerd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerdOptions {
    /// Socket path.
    pub address: String,
    /// Namespace (`k8s.io` for the kubelet's images).
    pub namespace: String,
    /// Pull through CRI `PullImage` rather than imagectl's client.
    pub cri_pull: bool,
    /// Images younger than this are never removed.
    pub min_age: Duration,
    /// Where layers are unpacked.
    pub snapshotter: String,
}

/// A containerd reached over its socket.
pub struct ContainerdStore {
    conn: Conn,
    opts: ContainerdOptions,
    state_dir: PathBuf,
}

impl ContainerdStore {
    /// Connect and ask containerd for its version (every command fails the same way when
    /// it cannot be reached).
    pub async fn connect(opts: ContainerdOptions) -> Result<Self, StoreError> {
        let conn = Conn::connect(&opts.address, &opts.namespace).await?;
        let version = VersionClient::new(conn.channel.clone())
            .version(())
            .await
            .map_err(|s| conn.error("asking its version", s))?
            .into_inner();
        // The data root's identity, so two daemons on one host keep separate documents.
        let id = format!("{}-{}", version.revision, conn.address.replace('/', "_"));
        Ok(Self {
            state_dir: state::dir_for("containerd", &format!("{id}-{}", opts.namespace))?,
            conn,
            opts,
        })
    }

    fn cri_namespace(&self) -> bool {
        self.opts.namespace == "k8s.io"
    }

    /// Delete image records by name; the last with `sync` so the garbage collector has run
    /// (and the content is gone) when it returns.
    async fn delete_records(&self, names: &[String]) -> Result<(), StoreError> {
        let mut images = ImagesClient::new(self.conn.channel.clone());
        for (i, name) in names.iter().enumerate() {
            let res = images
                .delete(self.conn.req(DeleteImageRequest {
                    name: name.clone(),
                    sync: i + 1 == names.len(),
                    target: None,
                }))
                .await;
            match res {
                Ok(_) => {}
                Err(s) if s.code() == Code::NotFound => {}
                Err(s) => return Err(self.conn.error(&format!("removing {name}"), s)),
            }
        }
        Ok(())
    }

    /// Every record naming `image`'s target (tags, digests, the ID record, other tools').
    async fn records_of(&self, image: &InventoryImage) -> Result<Vec<String>, StoreError> {
        let digest = image.target.digest.to_string();
        Ok(inventory::records(&self.conn)
            .await?
            .into_iter()
            .filter(|r| r.target.as_ref().is_some_and(|t| t.digest == digest))
            .map(|r| r.name)
            .collect())
    }
}

#[async_trait]
impl ImageStore for ContainerdStore {
    fn location(&self) -> String {
        format!(
            "containerd:{} (namespace {})",
            self.conn.address, self.opts.namespace
        )
    }

    fn backend(&self) -> Backend {
        Backend::Containerd
    }

    fn state_dir(&self) -> std::path::PathBuf {
        self.state_dir.clone()
    }

    async fn inventory(&self) -> Result<Inventory, StoreError> {
        let records = inventory::records(&self.conn).await?;
        let mut inv = inventory::load(&self.conn, &records).await?;
        let users = containers::by_image(&self.conn).await?;
        let pins = if self.cri_namespace() {
            cri::pins(&self.conn).await
        } else {
            None
        };
        let created: HashMap<String, jiff::Timestamp> = records
            .iter()
            .filter_map(|r| {
                let t = r.created_at.as_ref()?;
                Some((
                    r.target.as_ref()?.digest.clone(),
                    jiff::Timestamp::new(t.seconds, t.nanos).ok()?,
                ))
            })
            .fold(HashMap::new(), |mut m, (d, t)| {
                let e = m.entry(d).or_insert(t);
                *e = (*e).max(t);
                m
            });
        let now = jiff::Timestamp::now();
        for image in &mut inv.images {
            let record_names: Vec<String> = image
                .names
                .iter()
                .map(|n| n.to_string())
                .chain(image.foreign_names.iter().cloned())
                .chain([image.id.to_string(), image.target.digest.to_string()])
                .chain(image.repo_digests.iter().cloned())
                .collect();
            for n in &record_names {
                if let Some(used) = users.get(n) {
                    image.containers.extend(used.iter().cloned());
                }
            }
            image.containers.dedup_by(|a, b| a.id == b.id);
            if let Some(pins) = &pins
                && (pins.ids.contains(&image.id.to_string())
                    || record_names.iter().any(|n| pins.names.contains(n)))
            {
                image.pinned = Some("pinned by CRI (the kubelet's sandbox image)".into());
            } else if let Some(t) = created.get(&image.target.digest.to_string())
                && now.duration_since(*t).unsigned_abs() < self.opts.min_age
            {
                image.pinned = Some(format!(
                    "younger than the kubelet's minimum GC age ({}s)",
                    self.opts.min_age.as_secs()
                ));
            }
        }
        inv.containers_known = true;
        Ok(inv)
    }

    async fn lock(&self, mode: LockMode) -> Result<LockGuard, StoreError> {
        state::lock(&self.state_dir, mode).await
    }

    async fn set_name(&self, name: &Reference, image: &InventoryImage) -> Result<(), StoreError> {
        let target = ingest::ctd_descriptor(&image.target);
        ingest::put_record(&self.conn, &name.to_string(), &target, false).await?;
        // CRI finds an image by its ID record too: make sure it has one.
        ingest::put_record(&self.conn, &image.id.to_string(), &target, false).await
    }

    async fn remove_name(&self, name: &Reference) -> Result<(), StoreError> {
        self.delete_records(&[name.to_string()]).await
    }

    async fn remove_image(
        &self,
        image: &InventoryImage,
        force: bool,
    ) -> Result<Vec<RemoveEvent>, StoreError> {
        if let Some(e) = image.removal_conflict(force) {
            return Err(e);
        }
        let records = self.records_of(image).await?;
        self.delete_records(&records).await?;
        let mut events: Vec<RemoveEvent> = image
            .names
            .iter()
            .map(|n| RemoveEvent::Untagged(n.to_string()))
            .collect();
        events.push(RemoveEvent::Deleted(image.id.to_string()));
        Ok(events)
    }

    async fn remove(&self, query: &str, force: bool) -> Result<Vec<RemoveEvent>, StoreError> {
        let inventory = self.inventory().await?;
        let removal = plan_removal(&inventory, query, force)?;
        let mut records = removal.names.clone();
        if removal.deleted.is_some() {
            for image in inventory
                .images
                .iter()
                .filter(|i| removal.targets.contains(&i.target.digest))
            {
                if let Some(e) = image.removal_conflict(force) {
                    return Err(e);
                }
                records.extend(self.records_of(image).await?);
            }
        }
        records.dedup();
        self.delete_records(&records).await?;
        Ok(removal.events())
    }

    async fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        state::read(&self.state_dir, name)
    }

    async fn write_state(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        state::write(&self.state_dir, name, bytes)
    }

    async fn import(
        &self,
        _codec: Arc<dyn ArchiveCodec>,
    ) -> Result<Box<dyn ImageImport>, StoreError> {
        Ok(Box::new(transfer::Import::begin(
            self.conn.clone(),
            self.opts.snapshotter.clone(),
        )?))
    }

    async fn export(
        &self,
        images: &[&InventoryImage],
        _codec: Arc<dyn ArchiveCodec>,
    ) -> Result<Box<dyn ImageExport>, StoreError> {
        Ok(Box::new(transfer::Export::run(&self.conn, images).await?))
    }

    async fn image_fs_used(&self) -> Option<u64> {
        unpack::snapshots_used(&self.conn, &self.opts.snapshotter)
            .await
            .ok()
    }

    fn imports_digest_names(&self) -> bool {
        true
    }

    fn pulls_natively(&self) -> bool {
        self.opts.cri_pull
    }

    async fn pull_native(
        &self,
        reference: &Reference,
        _platform: &str,
        credentials: Option<(String, String)>,
    ) -> Result<(), StoreError> {
        if !self.cri_namespace() {
            return Err(StoreError::Unsupported {
                what: "pulling through CRI",
                backend: "containerd outside namespace k8s.io",
                hint: "CRI pulls into k8s.io only: drop `pull: cri` or use that namespace",
            });
        }
        // CRI keeps only the digest of `repo:tag@digest` (no tag record): pull the pinned
        // digest, then give the image its tag the way CRI would have.
        match (reference.tag(), reference.digest()) {
            (Some(tag), Some(digest)) => {
                let pinned = Reference::parse(&format!("{}@{digest}", reference.name()))
                    .map_err(|e| StoreError::Daemon(e.to_string()))?;
                cri::pull(&self.conn, &pinned, credentials).await?;
                let by_digest = pinned.to_string();
                let record = inventory::records(&self.conn)
                    .await?
                    .into_iter()
                    .find(|r| r.name == by_digest)
                    .and_then(|r| r.target)
                    .ok_or_else(|| StoreError::NoSuchImage(by_digest.clone()))?;
                let tagged = Reference::parse(&format!("{}:{tag}", reference.name()))
                    .map_err(|e| StoreError::Daemon(e.to_string()))?;
                ingest::put_record(&self.conn, &tagged.to_string(), &record, false).await
            }
            _ => cri::pull(&self.conn, reference, credentials)
                .await
                .map(drop),
        }
    }
}
