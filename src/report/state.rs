//! The store state a run report carries (`state` in `last-run.json` and `apply --report`):
//! exactly what the planner reads of a store, so `imagectl plan --state REPORT` can plan
//! for a host that CI cannot reach, and the plan equals the one the host would make.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::oci::{Descriptor, Digest, Reference};
use crate::plan::ReplicaRecord;
use crate::store::{ContainerUse, Inventory, InventoryImage};

/// A store as the planner sees it, at the end of a run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HostState {
    /// Whether the backend knows which containers use which image (a daemon): only then
    /// does `containers` mean "not in use" when empty.
    pub containers_known: bool,
    /// Every image.
    pub images: Vec<ReportedImage>,
    /// Blobs no image references, which `prune.dangling` would delete.
    pub unreferenced_blobs: Vec<BlobSize>,
    /// Tags imagectl pushed to replication targets (its ledger).
    pub pushed: Vec<ReplicaRecord>,
}

/// One stored image.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReportedImage {
    /// The stored manifest or index.
    pub target: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub target_size: u64,
    /// The image ID.
    pub id: Digest,
    /// Names in imagectl's form.
    pub names: Vec<Reference>,
    /// Names other tools gave it (such an image is never removed).
    pub foreign_names: Vec<String>,
    /// What each name resolved to at its registry when pulled.
    pub sources: BTreeMap<Reference, Digest>,
    /// When the image was built.
    pub created: Option<Timestamp>,
    /// When it was pulled.
    pub pulled_at: Option<Timestamp>,
    /// When it was last used.
    pub last_used: Option<Timestamp>,
    /// Every blob it needs that is present, with its size.
    pub blobs: BTreeMap<Digest, u64>,
    /// Containers that use it: the "in use" a review warns about.
    pub containers: Vec<ReportedContainer>,
    /// Why the backend forbids removing it, if it does.
    pub pinned: Option<String>,
}

/// A container using an image.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReportedContainer {
    /// Short ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Running (not merely created or stopped).
    pub running: bool,
    /// When it last used the image.
    pub last_used: Option<Timestamp>,
}

/// A blob and its size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlobSize {
    /// The blob.
    pub digest: Digest,
    /// Bytes.
    pub size: u64,
}

impl HostState {
    /// The state of a store from its inventory, its content (every blob with its size)
    /// and its replication ledger.
    pub fn capture(
        inventory: &Inventory,
        content: &[(Digest, u64)],
        pushed: Vec<ReplicaRecord>,
    ) -> Self {
        let referenced = inventory.referenced_blobs();
        Self {
            containers_known: inventory.containers_known,
            images: inventory.images.iter().map(ReportedImage::of).collect(),
            unreferenced_blobs: content
                .iter()
                .filter(|(d, _)| !referenced.contains(d))
                .map(|(d, s)| BlobSize {
                    digest: d.clone(),
                    size: *s,
                })
                .collect(),
            pushed,
        }
    }

    /// The inventory the planner reads, rebuilt. Damage, configs and platforms are not
    /// carried: the planner does not read them.
    pub fn inventory(&self) -> Inventory {
        Inventory {
            images: self
                .images
                .iter()
                .map(ReportedImage::to_inventory)
                .collect(),
            containers_known: self.containers_known,
            referrers: Vec::new(),
        }
    }

    /// Every blob with its size, each once, as `ImageStore::content_sizes` answers.
    pub fn content(&self) -> Vec<(Digest, u64)> {
        let mut all: BTreeMap<Digest, u64> = BTreeMap::new();
        for image in &self.images {
            all.extend(image.blobs.iter().map(|(d, s)| (d.clone(), *s)));
        }
        all.extend(
            self.unreferenced_blobs
                .iter()
                .map(|b| (b.digest.clone(), b.size)),
        );
        all.into_iter().collect()
    }

    /// Names of images that containers use, with those containers' names.
    pub fn in_use(&self) -> BTreeMap<Reference, Vec<String>> {
        let mut out = BTreeMap::new();
        for image in self.images.iter().filter(|i| !i.containers.is_empty()) {
            let users: BTreeSet<String> = image.containers.iter().map(|c| c.name.clone()).collect();
            for n in &image.names {
                out.insert(n.clone(), users.iter().cloned().collect());
            }
        }
        out
    }
}

impl ReportedImage {
    fn of(i: &InventoryImage) -> Self {
        Self {
            target: i.target.digest.clone(),
            media_type: i.target.media_type.clone(),
            target_size: i.target.size,
            id: i.id.clone(),
            names: i.names.clone(),
            foreign_names: i.foreign_names.clone(),
            sources: i.sources.clone(),
            created: i.created,
            pulled_at: i.pulled_at,
            last_used: i.last_used,
            blobs: i.blobs.clone(),
            containers: i
                .containers
                .iter()
                .map(|c| ReportedContainer {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    running: c.running,
                    last_used: c.last_used,
                })
                .collect(),
            pinned: i.pinned.clone(),
        }
    }

    fn to_inventory(&self) -> InventoryImage {
        InventoryImage {
            target: Descriptor {
                media_type: self.media_type.clone(),
                digest: self.target.clone(),
                size: self.target_size,
                platform: None,
            },
            id: self.id.clone(),
            names: self.names.clone(),
            foreign_names: self.foreign_names.clone(),
            repo_digests: Vec::new(),
            sources: self.sources.clone(),
            created: self.created,
            platform: None,
            blobs: self.blobs.clone(),
            pulled_at: self.pulled_at,
            last_used: self.last_used,
            damage: Vec::new(),
            config: None,
            containers: self
                .containers
                .iter()
                .map(|c| ContainerUse {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    running: c.running,
                    last_used: c.last_used,
                })
                .collect(),
            pinned: self.pinned.clone(),
        }
    }
}
