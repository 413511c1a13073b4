//! The store seam: what commands and the executor ask of any image store, the embedded
//! layout or a daemon. Only `store/` knows which backend is behind it; `cli::open_store`
//! gets one from [`crate::store::open`].
//!
//! A daemon has no blobs to walk and no catalogue to edit: it answers for images as a
//! whole. So the seam speaks of images and names (inventory, name, untag, remove), one
//! garbage collection, state documents, and one import transaction that pull and load
//! write into. Backends that keep content addressable blobs (the layout) also expose them
//! through [`ImageStore::content`], for fsck, push and copy.

use std::io::{Read, Write};
use std::sync::Arc;

use async_trait::async_trait;

use super::{Inventory, InventoryImage, LockGuard, LockMode, Store, StoreError};
use crate::oci::{Digest, Reference};

/// Which kind of store is behind the seam, for messages and for the few places that
/// must say "not on this backend".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded OCI image layout.
    Embedded,
    /// A Docker Engine; `containerd_store` when it keeps images in containerd's image
    /// store (image ID = manifest digest) rather than the classic one (ID = config digest).
    Docker {
        /// The Engine's containerd image store is on.
        containerd_store: bool,
    },
    /// containerd (a Kubernetes node's image store, through its API and CRI).
    Containerd,
}

impl Backend {
    /// "the embedded store", "the Docker Engine".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Embedded => "the embedded store",
            Self::Docker {
                containerd_store: true,
            } => "the Docker Engine (containerd image store)",
            Self::Docker { .. } => "the Docker Engine",
            Self::Containerd => "containerd",
        }
    }
}

/// One line of `rmi` output, as docker prints them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoveEvent {
    /// A name was removed.
    Untagged(String),
    /// An image was deleted.
    Deleted(String),
}

/// Everything a command needs from an image store.
#[async_trait]
pub trait ImageStore: Send + Sync {
    /// Where the store lives, for messages (`/var/lib/imagectl`, `unix:///run/docker.sock`).
    fn location(&self) -> String;
    /// Which backend this is.
    fn backend(&self) -> Backend;
    /// The directory where imagectl keeps its own files for this store (locks, ledgers,
    /// the daemon's run state); it may not exist yet.
    fn state_dir(&self) -> std::path::PathBuf;
    /// Every image with its names, sizes, content and users.
    async fn inventory(&self) -> Result<Inventory, StoreError>;
    /// Serialise writers (shared to add, exclusive to remove); daemons serialise
    /// themselves and hand out a guard that holds nothing.
    async fn lock(&self, mode: LockMode) -> Result<LockGuard, StoreError>;
    /// Point `name` at `image`; what it named before stays as an untagged image.
    async fn set_name(&self, name: &Reference, image: &InventoryImage) -> Result<(), StoreError>;
    /// Remove `name` from an image that keeps its other names.
    async fn remove_name(&self, name: &Reference) -> Result<(), StoreError>;
    /// Delete `image` with all its names. A daemon refuses an image a container uses
    /// ([`StoreError::InUse`]), and `force` does not change that for running containers.
    async fn remove_image(
        &self,
        image: &InventoryImage,
        force: bool,
    ) -> Result<Vec<RemoveEvent>, StoreError>;
    /// `rmi QUERY`: untag a name, or delete by ID, with the backend's own rules (docker's
    /// conflicts on a daemon).
    async fn remove(&self, query: &str, force: bool) -> Result<Vec<RemoveEvent>, StoreError>;
    /// Free what no image needs any more (blobs, leftovers of interrupted writes);
    /// returns the bytes freed. The default is a daemon's, which collects its own layers:
    /// only what imagectl staged (`temporary`) is left to clean.
    async fn collect_garbage(&self, temporary: bool) -> Result<u64, StoreError> {
        match temporary {
            true => super::staging::reap().await,
            false => Ok(0),
        }
    }
    /// Every piece of content with its size, for usage and budgets. The default is a
    /// daemon's: every layer of every image, derived from `inventory`.
    async fn content_sizes(&self, inventory: &Inventory) -> Result<Vec<(Digest, u64)>, StoreError> {
        Ok(inventory.blob_sizes())
    }
    /// A small document imagectl keeps beside the images (replication ledger, source
    /// digests); `None` if never written.
    async fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Replace such a document atomically.
    async fn write_state(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError>;
    /// The content store behind the images, where the backend has one (blobs by digest);
    /// a daemon has none.
    fn content(&self) -> Option<Arc<dyn Store>> {
        None
    }
    /// Begin an import: pull and load write into its content; nothing is visible in this
    /// store before [`ImageImport::commit`]. A daemon's import stages into a private
    /// layout and streams it to the daemon as an archive written by `codec`.
    async fn import(
        &self,
        codec: Arc<dyn ArchiveCodec>,
    ) -> Result<Box<dyn ImageImport>, StoreError>;
    /// A content store holding `images`, for save, push and history: the store itself
    /// where it has content, else the daemon's export read into a private staging store.
    async fn export(
        &self,
        images: &[&InventoryImage],
        codec: Arc<dyn ArchiveCodec>,
    ) -> Result<Box<dyn ImageExport>, StoreError>;
    /// Whether an import can name an image by digest alone (`repo@sha256:…`, no tag): the
    /// layout and containerd can; the Engine's load carries tags only, so a pinned digest
    /// goes through its own pull there.
    fn imports_digest_names(&self) -> bool {
        self.content().is_some()
    }
    /// Whether pulls go through the backend's own pull ([`ImageStore::pull_native`]) rather
    /// than imagectl's registry client and an import.
    fn pulls_natively(&self) -> bool {
        false
    }
    /// The backend pulls `reference` itself (the Engine's `POST /images/create`), with
    /// `credentials` imagectl resolved for its registry.
    async fn pull_native(
        &self,
        _reference: &Reference,
        _platform: &str,
        _credentials: Option<(String, String)>,
    ) -> Result<(), StoreError> {
        Err(StoreError::Unsupported {
            what: "pulling by the backend itself",
            backend: self.backend().describe(),
            hint: "imagectl pulls with its own client",
        })
    }
    /// Bytes that writers which died (killed, crashed) left in the store's temporary space;
    /// the next writer removes them. The default is a daemon's: its staging directories.
    async fn leftovers(&self) -> Result<u64, StoreError> {
        super::staging::leftovers()
    }
    /// Bytes the daemon's image filesystem uses for unpacked layers, where it reports them
    /// (containerd: its snapshots' usage, the figure CRI `ImageFsInfo` reports).
    async fn image_fs_used(&self) -> Option<u64> {
        None
    }
    /// The backend's own inspect document for an image, where it has one (the Engine's);
    /// `None`: build it from the inventory.
    async fn document(
        &self,
        _image: &InventoryImage,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(None)
    }
    /// The backend's own history rows (docker's `/images/{id}/history` objects), newest
    /// first; `None`: build them from the config.
    async fn history(
        &self,
        _image: &InventoryImage,
    ) -> Result<Option<Vec<serde_json::Value>>, StoreError> {
        Ok(None)
    }
}

/// Images being brought into a store. Dropping it without commit leaves the store as
/// it was.
#[async_trait]
pub trait ImageImport: Send {
    /// Where the incoming blobs and names are written.
    fn content(&self) -> Arc<dyn Store>;
    /// Make what was written visible in the store: `sources` says what each name resolved
    /// to at its registry, for the next "is this tag current" question.
    async fn commit(self: Box<Self>, sources: &[(Reference, Digest)]) -> Result<(), StoreError>;
}

/// Content exported for reading (save, push). Dropping it removes any staging copy.
pub trait ImageExport: Send + Sync {
    /// Where the images' blobs can be read.
    fn content(&self) -> Arc<dyn Store>;
    /// The exported copy of `image` (its ID and names as in the staging store's
    /// inventory may differ from the daemon's).
    fn staged(&self, image: &InventoryImage) -> Option<InventoryImage>;
}

/// Archive reading and writing as a daemon backend needs them, implemented by `archive/`:
/// the seam stays below the archive code, which itself reads and writes content stores.
pub trait ArchiveCodec: Send + Sync {
    /// Write `images` of `content` as one docker-archive tar (what `POST /images/load`
    /// reads), layers as stored.
    fn write_docker_archive(
        &self,
        content: &dyn Store,
        images: &[super::InventoryImage],
        out: &mut dyn Write,
    ) -> Result<(), StoreError>;
    /// Read an archive (what `GET /images/get` writes) into `content`, with every check
    /// `imagectl load` makes.
    fn read_archive(
        &self,
        content: &dyn Store,
        input: Box<dyn Read + Send>,
    ) -> Result<(), StoreError>;
}
