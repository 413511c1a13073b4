//! The inventory: what the store holds, image by image, with sizes, creation times and
//! the blobs each image needs. Commands list it and the planner diffs against it.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::content::damage_text;
use super::{BlobRead, Catalog, CatalogEntry, Content, StoreError};
use crate::image::{ImageSource, ImageTree, local};
use crate::oci::{Descriptor, Digest, Platform, Reference};

/// Manifests and configs are small; anything larger is refused as damage.
pub const MAX_METADATA_BLOB: u64 = 8 << 20;

/// One image: a manifest (or index) with every name that points at it.
#[derive(Clone, Debug)]
pub struct InventoryImage {
    /// The manifest or index the names point at.
    pub target: Descriptor,
    /// Docker's image ID: the config digest (for an index, the index digest).
    pub id: Digest,
    /// Names in imagectl's form, sorted.
    pub names: Vec<Reference>,
    /// Names other tools gave the image, kept verbatim.
    pub foreign_names: Vec<String>,
    /// `repository@digest` as the registry served it, per name.
    pub repo_digests: Vec<String>,
    /// What each name resolved to at its registry when pulled (local tags have none).
    pub sources: BTreeMap<Reference, Digest>,
    /// When the image was built, from its config.
    pub created: Option<Timestamp>,
    /// The image's platform (none for an index).
    pub platform: Option<Platform>,
    /// Every blob the image needs (manifests, configs, layers) that is present, with sizes.
    pub blobs: BTreeMap<Digest, u64>,
    /// When imagectl wrote it.
    pub pulled_at: Option<Timestamp>,
    /// When imagectl last used it.
    pub last_used: Option<Timestamp>,
    /// Why the image is incomplete, if it is (a missing manifest, config or layer).
    pub damage: Vec<String>,
    /// The raw config document (docker's field names), if present.
    pub config: Option<serde_json::Value>,
    /// Containers (running or stopped) created from the image: they pin it.
    pub containers: Vec<ContainerUse>,
    /// Why the backend forbids removing the image though no container uses it (CRI's
    /// pinned sandbox image, the kubelet's minimum age), if it does.
    pub pinned: Option<String>,
}

/// A container that uses an image, as a daemon reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerUse {
    /// Short container ID.
    pub id: String,
    /// Its name, without the leading slash.
    pub name: String,
    /// Running (or paused, restarting): not even `-f` deletes its image.
    pub running: bool,
    /// When it last used the image: now if running, else when it was created.
    pub last_used: Option<Timestamp>,
}

impl InventoryImage {
    /// Bytes on disk: every blob counted once.
    pub fn size(&self) -> u64 {
        self.blobs.values().sum()
    }

    /// Why a daemon must not delete the image, if it must not: a container uses it (even
    /// `force` does not delete an image a running container uses, as in docker), or the
    /// backend pins it (`force` overrides that).
    pub fn removal_conflict(&self, force: bool) -> Option<StoreError> {
        if let Some(c) = self.containers.iter().find(|c| c.running || !force) {
            return Some(StoreError::InUse(format!(
                "conflict: unable to delete {} - image is being used by {} container {} ({})",
                self.id.short(),
                if c.running { "running" } else { "stopped" },
                c.id,
                c.name
            )));
        }
        match &self.pinned {
            Some(reason) if !force => Some(StoreError::InUse(format!(
                "unable to delete {}: {reason} (rmi -f removes it anyway)",
                self.id.short()
            ))),
            _ => None,
        }
    }

    /// Untagged and unnamed.
    pub fn is_dangling(&self) -> bool {
        self.names.is_empty() && self.foreign_names.is_empty()
    }
}

/// Everything in a store.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    /// Images, newest created first.
    pub images: Vec<InventoryImage>,
    /// The backend knows which containers use which image (a daemon), so "in use"
    /// means used by a container rather than named.
    pub containers_known: bool,
    /// Referrers kept beside the images (signatures, attestations), never listed as images.
    pub referrers: Vec<super::StoredReferrer>,
}

impl Inventory {
    /// Read the catalogue and every manifest and config it points at.
    pub fn load(store: &(impl BlobRead + Catalog + ?Sized)) -> Result<Self, StoreError> {
        Self::from_entries(store, store.entries()?)
    }

    /// Build from already-read entries (callers that just updated the catalogue).
    pub fn from_entries(
        store: &(impl BlobRead + ?Sized),
        entries: Vec<CatalogEntry>,
    ) -> Result<Self, StoreError> {
        let (attached, entries): (Vec<_>, Vec<_>) =
            entries.into_iter().partition(super::is_referrer);
        let mut by_target: BTreeMap<Digest, Vec<CatalogEntry>> = BTreeMap::new();
        for e in entries {
            by_target
                .entry(e.target.digest.clone())
                .or_default()
                .push(e);
        }
        let mut images = Vec::new();
        for (_, group) in by_target {
            images.push(build_image(store, group)?);
        }
        let referrers = super::attachments::attached(store, attached, &images)?;
        Ok(Self {
            referrers,
            ..Self::of(images, false)
        })
    }

    /// An inventory of `images`, in the one order every backend lists: newest created
    /// first, then by names and ID.
    pub fn of(mut images: Vec<InventoryImage>, containers_known: bool) -> Self {
        images.sort_by(|a, b| {
            b.created
                .cmp(&a.created)
                .then_with(|| a.names.cmp(&b.names))
                .then_with(|| a.id.cmp(&b.id))
        });
        Self {
            images,
            containers_known,
            referrers: Vec::new(),
        }
    }

    /// Every blob some image or kept referrer needs.
    pub fn referenced_blobs(&self) -> BTreeSet<Digest> {
        self.images
            .iter()
            .flat_map(|i| i.blobs.keys().cloned())
            .chain(self.referrers.iter().flat_map(|r| r.blobs.keys().cloned()))
            .collect()
    }

    /// Every blob some image needs, with its size, each once: a daemon's content as far
    /// as its images show it.
    pub fn blob_sizes(&self) -> Vec<(Digest, u64)> {
        let mut all = BTreeMap::new();
        for image in &self.images {
            all.extend(image.blobs.iter().map(|(d, s)| (d.clone(), *s)));
        }
        for r in &self.referrers {
            all.extend(r.blobs.iter().map(|(d, s)| (d.clone(), *s)));
        }
        all.into_iter().collect()
    }

    /// How many images need each blob (for shared/unique sizes).
    pub fn blob_users(&self) -> BTreeMap<Digest, usize> {
        let mut users = BTreeMap::new();
        for image in &self.images {
            for d in image.blobs.keys() {
                *users.entry(d.clone()).or_insert(0) += 1;
            }
        }
        users
    }
}

fn build_image(
    store: &(impl BlobRead + ?Sized),
    group: Vec<CatalogEntry>,
) -> Result<InventoryImage, StoreError> {
    let target = group[0].target.clone();
    let mut names: Vec<Reference> = group.iter().filter_map(|e| e.name.clone()).collect();
    names.sort();
    names.dedup();
    let mut foreign_names: Vec<String> = group
        .iter()
        .filter_map(|e| e.foreign_name().map(str::to_string))
        .collect();
    foreign_names.sort();
    foreign_names.dedup();
    let mut repo_digests: Vec<String> = group
        .iter()
        .filter_map(|e| {
            // Only what a registry actually served under that repository: a local tag
            // has no repo digest (as in docker).
            let name = e.name.as_ref()?;
            let d = e.source_digest.as_ref().or(name.digest())?;
            Some(format!("{}@{d}", name.name()))
        })
        .collect();
    repo_digests.sort();
    repo_digests.dedup();
    let sources = group
        .iter()
        .filter_map(|e| Some((e.name.clone()?, e.source_digest.clone()?)))
        .collect();
    let mut image = InventoryImage {
        sources,
        id: target.digest.clone(),
        target: target.clone(),
        names,
        foreign_names,
        repo_digests,
        created: None,
        platform: target.platform.clone(),
        blobs: BTreeMap::new(),
        pulled_at: group.iter().filter_map(|e| e.pulled_at).max(),
        last_used: group.iter().filter_map(|e| e.last_used).max(),
        damage: Vec::new(),
        config: None,
        containers: Vec::new(),
        pinned: None,
    };
    walk(store, &target, &mut image)?;
    Ok(image)
}

/// Record the blobs under `target` and what is damaged. Every blob an image still has is
/// counted, damaged or not, since the garbage collector keeps exactly what is counted.
fn walk(
    store: &(impl BlobRead + ?Sized),
    target: &Descriptor,
    image: &mut InventoryImage,
) -> Result<(), StoreError> {
    let content = Content(store);
    let mut damage = Vec::new();
    let tree = local(ImageTree::survey(&content, target, &mut damage))?;
    image.damage.extend(damage.into_iter().map(damage_text));
    let Some(tree) = tree else {
        return Ok(());
    };
    for node in std::iter::once(&tree.top).chain(&tree.children) {
        image
            .blobs
            .insert(node.desc.digest.clone(), node.bytes.len() as u64);
    }
    for node in tree.images() {
        let top = std::ptr::eq(node, &tree.top);
        for layer in node.layers() {
            match store.blob_size(&layer.digest)? {
                Some(size) => {
                    image.blobs.insert(layer.digest.clone(), size);
                }
                None => image
                    .damage
                    .push(format!("layer {} is missing", layer.digest)),
            }
        }
        let config = node.config_desc().expect("an image manifest has a config");
        match local(content.config(config)) {
            Ok(cfg) => {
                image.blobs.insert(config.digest.clone(), cfg.len() as u64);
                read_config(image, config, &cfg, top);
            }
            Err(StoreError::MissingBlob(d)) => image.damage.push(format!("config {d} is missing")),
            Err(e) if Content::<dyn BlobRead>::is_damage(&e) => image.damage.push(e.to_string()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Creation time (newest of an index's images), and for the entry's own image manifest
/// its ID, platform and config document.
fn read_config(image: &mut InventoryImage, config: &Descriptor, bytes: &[u8], top: bool) {
    let value: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    let created = value
        .get("created")
        .and_then(|c| c.as_str())
        .and_then(|c| c.parse::<Timestamp>().ok());
    if !top {
        image.created = image.created.max(created);
        return;
    }
    image.id = config.digest.clone();
    image.created = created;
    if image.platform.is_none() {
        let s = |k: &str| value.get(k).and_then(|v| v.as_str()).unwrap_or("");
        if !s("os").is_empty() {
            image.platform = Some(Platform::new(
                s("os"),
                s("architecture"),
                value.get("variant").and_then(|v| v.as_str()),
            ));
        }
    }
    image.config = Some(value);
}

/// How a query matched.
#[derive(Clone, Debug)]
pub enum Resolved<'a> {
    /// By one of its names: only that name is meant.
    Name(&'a InventoryImage),
    /// By image ID (full or prefix): every stored image with that ID is meant (the same
    /// config can be stored under an OCI and a Docker manifest).
    Id(Vec<&'a InventoryImage>),
}

impl<'a> Resolved<'a> {
    /// The first image matched.
    pub fn first(&self) -> &'a InventoryImage {
        match self {
            Self::Name(i) => i,
            Self::Id(v) => v[0],
        }
    }
}

/// Find the image a user means by `query`: a full image ID (`sha256:…` or 64 hex), a name
/// (`nginx`, `nginx:1.25`, `repo@sha256:…`), or an ID prefix — in that order, as docker
/// resolves them. A whole digest (`sha256:<64 hex>`) is only ever an ID, as docker's
/// `ParseAnyReference` reads it, never the name `docker.io/library/sha256:<hex>`.
pub fn resolve_image<'a>(
    inventory: &'a Inventory,
    query: &str,
) -> Result<&'a InventoryImage, StoreError> {
    resolve(inventory, query).map(|r| r.first())
}

/// Like [`resolve_image`], saying how the query matched.
pub fn resolve<'a>(inventory: &'a Inventory, query: &str) -> Result<Resolved<'a>, StoreError> {
    let hex = query.strip_prefix("sha256:").unwrap_or(query);
    let is_hex = !hex.is_empty()
        && hex.len() <= 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    let with_id = |pred: &dyn Fn(&InventoryImage) -> bool| -> Vec<&'a InventoryImage> {
        inventory.images.iter().filter(|i| pred(i)).collect()
    };
    if is_hex && hex.len() == 64 {
        let hits = with_id(&|i| i.id.hex() == hex || i.target.digest.hex() == hex);
        if !hits.is_empty() {
            return Ok(Resolved::Id(hits));
        }
    }
    if query.parse::<Digest>().is_ok() {
        return Err(StoreError::NoSuchImage(query.to_string()));
    }
    let by_name = match Reference::parse(query) {
        Ok(reference) => inventory.images.iter().find(|i| {
            i.names.contains(&reference)
                || i.foreign_names.iter().any(|n| n == query)
                || reference.digest().is_some_and(|d| {
                    (i.target.digest == *d
                        || i.repo_digests.iter().any(|rd| rd.ends_with(&d.to_string())))
                        && i.names.iter().any(|n| n.name() == reference.name())
                })
        }),
        Err(_) => inventory
            .images
            .iter()
            .find(|i| i.foreign_names.iter().any(|n| n == query)),
    };
    if let Some(i) = by_name {
        return Ok(Resolved::Name(i));
    }
    if is_hex {
        let hits = with_id(&|i| i.id.hex().starts_with(hex));
        let ids: BTreeSet<&Digest> = hits.iter().map(|i| &i.id).collect();
        match ids.len() {
            0 => {}
            1 => return Ok(Resolved::Id(hits)),
            _ => return Err(StoreError::Ambiguous(query.to_string())),
        }
    }
    Err(StoreError::NoSuchImage(query.to_string()))
}
