//! Errors of the executor.

use crate::oci::Digest;
use crate::registry::RegistryError;
use crate::store::StoreError;

/// Why an operation on one image failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The registry failed or refused.
    #[error(transparent)]
    Registry(Box<RegistryError>),
    /// Looking up an image's referrers at its source failed (once per run: the plan's
    /// lookup is the one replication uses).
    #[error("looking up its referrers: {0}")]
    ReferrersLookup(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A manifest that cannot be stored (conversion to OCI failed).
    #[error(transparent)]
    Manifest(#[from] crate::oci::ManifestError),
    /// A multi-platform image without the requested platform.
    #[error(
        "{reference} has no image for platform {wanted} (it has: {available}); choose one with --platform or pull them all with --all-platforms"
    )]
    NoMatchingPlatform {
        /// What was pulled.
        reference: String,
        /// What was asked for.
        wanted: String,
        /// What the index offers.
        available: String,
    },
    /// A blob the image needs could not be stored.
    #[error("layer {digest} failed: {reason}")]
    BlobFailed {
        /// The image.
        reference: String,
        /// The blob.
        digest: Digest,
        /// Why (the first failure of that blob), shared by every image that needs it. Not
        /// a `#[source]`: the message already quotes it, and its own causes stay out of
        /// the one-line error as before.
        reason: std::sync::Arc<super::BlobError>,
    },
    /// `rmi` of an image with several names without `-f`.
    #[error(
        "image {id} is referenced by several names ({names}); remove them one by one or use -f"
    )]
    MultipleNames {
        /// Short image ID.
        id: String,
        /// The names.
        names: String,
    },
    /// An index whose entry is itself an index: not produced by any mainstream tool.
    #[error("{0} is an index of indexes, which imagectl does not support")]
    NestedIndex(String),
    /// Pushing from the store through a copier made without one.
    #[error("pushing an image from the store needs the store: open it first")]
    NoLocalStore,
    /// Retagging onto a reference that carries a digest.
    #[error(
        "cannot tag with a digest reference {0}: a tag names a repository and tag, e.g. registry.local/app:1.0"
    )]
    TagWithDigest(String),
    /// The ledger of replicated tags cannot be read or written.
    #[error(
        "the replication ledger in the store at {location} is unusable: {reason}; move it aside to start a new one (imagectl then deletes none of the tags it pushed earlier)"
    )]
    Ledger {
        /// The store.
        location: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<RegistryError> for ExecError {
    fn from(e: RegistryError) -> Self {
        Self::Registry(Box::new(e))
    }
}
