//! Image stores: the role traits every backend implements, and the inventory built on them.
//! The embedded backend (`layout`) keeps an OCI image layout on the local filesystem;
//! `docker` manages a Docker Engine's images through its API. [`open`] is the one place
//! that picks a backend.

mod attachments;
mod containerd;
mod content;
mod docker;
mod embedded;
mod error;
mod image_store;
mod inventory;
pub mod layout;
mod names;
mod open;
mod removal;
mod scratch;
mod staging;
mod state;

pub use attachments::{
    REFERRER_TAG, SUBJECT, StoredReferrer, drop_orphans, hanging_from, is_referrer, referrer_entry,
    referrers_of, subject_of_tag,
};
pub use content::Content;
pub use error::StoreError;
pub use image_store::{ArchiveCodec, Backend, ImageExport, ImageImport, ImageStore, RemoveEvent};
pub use inventory::{
    ContainerUse, Inventory, InventoryImage, MAX_METADATA_BLOB, Resolved, resolve, resolve_image,
};
pub use names::{names_target, set_name};
pub use open::{ContainerdSpec, PullPath, StoreSpec, open};

use std::io::{Read, Write};

use jiff::Timestamp;

use crate::oci::{Descriptor, Digest, Reference};

/// Reading content-addressed blobs (layers, configs, manifests).
pub trait BlobRead {
    /// The size of a blob that is present, or `None`.
    fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, StoreError>;
    /// A small blob (manifest, config) read whole and verified against its digest;
    /// refuses blobs over `max` bytes so a damaged store cannot exhaust memory.
    fn read_blob(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, StoreError>;
    /// A stream of a blob's bytes, not verified (fsck verifies).
    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send>, StoreError>;
    /// The last `n` bytes of a blob (e.g. a gzip trailer), unverified; `None` when the
    /// backend cannot seek.
    fn blob_tail(&self, _digest: &Digest, _n: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }
}

/// Writing blobs so that only complete, verified content ever becomes visible.
pub trait BlobWrite {
    /// A sink that accepts the bytes of the blob `digest` of `size` bytes and on
    /// [`BlobSink::commit`] verifies both before the blob becomes visible.
    fn blob_writer(&self, digest: &Digest, size: u64) -> Result<Box<dyn BlobSink>, StoreError>;
    /// Write a small blob held in memory, verified like any other.
    fn put_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        let mut w = self.blob_writer(digest, bytes.len() as u64)?;
        w.write_all(bytes)
            .map_err(|e| StoreError::io("writing blob", digest.to_string(), e))?;
        w.commit()
    }
    /// A sink for a blob whose digest is not known in advance (a layer of a docker
    /// archive): [`UnknownSink::finish`] computes digest and size and stages the blob.
    fn blob_writer_unknown(&self) -> Result<Box<dyn UnknownSink>, StoreError>;
}

/// A blob being written whose digest is learned only at the end. Dropping it without
/// `finish` discards everything written.
pub trait UnknownSink: Write + Send {
    /// Make the content durable (not yet visible) and say what it hashes to.
    fn finish(self: Box<Self>) -> Result<(Digest, u64, Box<dyn StagedBlob>), StoreError>;
}

/// A blob being written. Dropping it without `finish` discards everything written.
pub trait BlobSink: Write + Send {
    /// Verify size and digest and make the content durable, but not yet visible: a pull
    /// publishes the blobs of an image only once all of them arrived, so a failed image
    /// leaves the store exactly as it was.
    fn finish(self: Box<Self>) -> Result<Box<dyn StagedBlob>, StoreError>;

    /// Bytes accepted so far: where a download that broke resumes (`Range: bytes=N-`), the
    /// digest computation carrying on over the whole blob.
    fn written(&self) -> u64;

    /// Discard everything written and start the blob over, for a registry that answered a
    /// resumed request with the whole blob (or the wrong part of it).
    fn restart(&mut self) -> Result<(), StoreError>;

    /// `finish` and `publish` in one step.
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.finish()?.publish()
    }
}

/// A verified blob waiting to become visible. Dropping it discards it.
pub trait StagedBlob: Send {
    /// Make the blob visible under its digest.
    fn publish(self: Box<Self>) -> Result<(), StoreError>;
}

/// Listing and deleting blobs, for garbage collection and fsck.
pub trait BlobGc {
    /// Every blob present with its size.
    fn list_blobs(&self) -> Result<Vec<(Digest, u64)>, StoreError>;
    /// Remove a blob; removing one that is absent is not an error.
    fn delete_blob(&self, digest: &Digest) -> Result<(), StoreError>;
}

/// The catalogue of images: which names point at which manifests.
pub trait Catalog {
    /// All entries, in store order.
    fn entries(&self) -> Result<Vec<CatalogEntry>, StoreError>;
    /// Change the catalogue atomically: `edit` sees the current entries under the
    /// writer lock and what it leaves is written in one step, or nothing is.
    fn update(
        &self,
        edit: &mut dyn FnMut(&mut Vec<CatalogEntry>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// Serialising writers. Writers of content hold the shared lock for their whole run;
/// whoever deletes blobs holds it exclusively, so a pull never loses a blob it just
/// wrote to a concurrent prune.
pub trait StoreLock {
    /// Take the lock (waiting, with a message, if another process holds it).
    fn lock(&self, mode: LockMode) -> Result<LockGuard, StoreError>;
}

/// Shared for adding content, exclusive for removing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Several writers may add content at once.
    Shared,
    /// One remover, nobody else.
    Exclusive,
}

/// Holds a lock until dropped.
pub struct LockGuard {
    _file: Option<std::fs::File>,
}

impl LockGuard {
    /// A guard for a backend that needs no lock.
    pub fn none() -> Self {
        Self { _file: None }
    }

    pub(crate) fn file(file: std::fs::File) -> Self {
        Self { _file: Some(file) }
    }
}

/// Everything a command needs from a store.
pub trait Store: BlobRead + BlobWrite + BlobGc + Catalog + StoreLock + Send + Sync {
    /// Where the store lives, for messages.
    fn location(&self) -> String;
    /// Remove leftovers of interrupted writes (temporary files); call under the exclusive lock.
    fn clean_temporary(&self) -> Result<u64, StoreError>;
    /// A small document the tool keeps beside the images (the ledger of replicated tags),
    /// `None` if it was never written. Other tools never see it.
    fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Replace such a document atomically.
    fn write_state(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError>;
}

/// One catalogue entry: a name (or none: dangling) for a manifest or index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The full reference (`docker.io/library/nginx:1.25`), or `None` for an untagged image.
    pub name: Option<Reference>,
    /// The manifest or index the name points at.
    pub target: Descriptor,
    /// When imagectl wrote this entry.
    pub pulled_at: Option<Timestamp>,
    /// What the name resolved to at the source registry (an index digest when a single
    /// platform was pulled from a multi-platform tag): lets a later run answer
    /// "is this tag current" with a manifest HEAD.
    pub source_digest: Option<Digest>,
    /// When the image was last used by imagectl (pulled, tagged, saved).
    pub last_used: Option<Timestamp>,
    /// Other annotations, kept verbatim: another tool's short `ref.name` (e.g. `app-v1`
    /// written by `skopeo copy oci:STORE:app-v1`) lands here and is never rewritten.
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl CatalogEntry {
    /// A fresh entry written by imagectl now.
    pub fn new(name: Option<Reference>, target: Descriptor, source_digest: Option<Digest>) -> Self {
        let now = Timestamp::now();
        Self {
            name,
            target,
            pulled_at: Some(now),
            source_digest,
            last_used: Some(now),
            annotations: Default::default(),
        }
    }

    /// The name another tool gave this entry, if it is not one imagectl understands.
    pub fn foreign_name(&self) -> Option<&str> {
        self.annotations.get(REF_NAME).map(String::as_str)
    }

    /// Untagged and unnamed by any tool, and no referrer: what `prune` removes.
    pub fn is_dangling(&self) -> bool {
        self.name.is_none() && self.foreign_name().is_none() && !is_referrer(self)
    }
}

/// The OCI annotation that names an image in a layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
