//! An image as every medium holds it: a top manifest (an image manifest or an index), the
//! manifests an index names, and the configs and layers each image manifest names, read by
//! descriptor and verified by the medium.
//!
//! Each medium implements [`ImageSource`]: a registry repository (`registry::Remote`), the
//! store's content (`store::Content`), an OCI archive being loaded (`archive/entries.rs`)
//! and containerd's content store (`store/containerd/inventory.rs`). [`ImageTree`] is the one walker over any of them, and the one type for "an
//! image being moved": pull and copy read a tree from a registry, push and save from the
//! store, load from an archive, and the inventory surveys the store's trees, damage and all.
//! So the answer to "where is an image's manifest read for a save" is
//! [`ImageTree::read`] over the store's content, called from `archive/prepare.rs`.
//!
//! Blob bytes are not part of the trait: each operation streams them the way its two media
//! allow (positioned parallel writes for save, resumable uploads for copy), and only asks a
//! source whether it holds a blob ([`ImageSource::blob_size`]).

mod prefer;
mod select;
mod stored;
mod tree;

pub use prefer::Prefer;
pub use select::{NoPlatform, Selection, pick};
pub use stored::{StoredForm, stored_form};
pub use tree::{ImageTree, Node, Part, Walk, WalkError};

use std::future::Future;

use bytes::Bytes;
use futures_util::FutureExt;

use crate::oci::Descriptor;

/// A medium images can be read from by descriptor. Every answer is verified against the
/// descriptor (digest, and size where the medium knows it) before it is returned.
///
/// The futures of local media (the store, an archive) complete without waiting, so
/// synchronous callers drive them with [`local`].
pub trait ImageSource {
    /// What goes wrong reading this medium, as the medium describes it.
    type Error;

    /// The bytes of the manifest or index `desc`.
    fn manifest(&self, desc: &Descriptor) -> impl Future<Output = Result<Bytes, Self::Error>>;

    /// The bytes of the image config `desc`.
    fn config(&self, desc: &Descriptor) -> impl Future<Output = Result<Bytes, Self::Error>>;

    /// The size of the blob `desc` names if the medium holds it, `None` if it does not.
    fn blob_size(
        &self,
        desc: &Descriptor,
    ) -> impl Future<Output = Result<Option<u64>, Self::Error>>;

    /// Whether a read failure means "this image is damaged" (absent or corrupt content),
    /// which a survey records and walks past, rather than a failure of the medium itself.
    fn is_damage(_error: &Self::Error) -> bool {
        false
    }
}

/// Drive a future of a local medium (the store, an archive), which never waits, to its end.
///
/// # Panics
/// If the future waits: only futures of media whose reads are synchronous belong here.
pub fn local<T>(future: impl Future<Output = T>) -> T {
    future
        .now_or_never()
        .expect("a local image source answered without waiting")
}
