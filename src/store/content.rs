//! The store's content as an [`ImageSource`]: manifests and configs read whole, bounded and
//! verified against their digests, blob presence answered from the store's index of blobs.

use bytes::Bytes;

use super::{BlobRead, MAX_METADATA_BLOB, StoreError};
use crate::image::{ImageSource, WalkError};
use crate::oci::Descriptor;

/// A store's blobs, read through its [`BlobRead`] role. Reads never wait, so synchronous
/// callers walk it with [`crate::image::local`].
pub struct Content<'a, S: ?Sized>(pub &'a S);

impl<S: BlobRead + ?Sized> Content<'_, S> {
    fn small(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        self.0
            .read_blob(&desc.digest, MAX_METADATA_BLOB)
            .map(Bytes::from)
    }
}

impl<S: BlobRead + ?Sized> ImageSource for Content<'_, S> {
    type Error = StoreError;

    async fn manifest(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        self.small(desc)
    }

    async fn config(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        self.small(desc)
    }

    async fn blob_size(&self, desc: &Descriptor) -> Result<Option<u64>, StoreError> {
        self.0.blob_size(&desc.digest)
    }

    fn is_damage(error: &StoreError) -> bool {
        matches!(
            error,
            StoreError::MissingBlob(_) | StoreError::Corrupt { .. } | StoreError::TooLarge { .. }
        )
    }
}

/// How the inventory and fsck word what a survey of the store's content walked past.
pub(super) fn damage_text(e: WalkError<StoreError>) -> String {
    match e {
        // An index is only ever stored with all its children (`--all-platforms`), so a
        // missing child is damage just like a missing top-level manifest.
        WalkError::Read {
            error: StoreError::MissingBlob(d),
            ..
        } => format!("manifest {d} is missing"),
        WalkError::Read { error, .. } => error.to_string(),
        WalkError::Manifest { desc, source, .. } => StoreError::Manifest {
            digest: desc.digest,
            source,
        }
        .to_string(),
        other => other.to_string(),
    }
}
