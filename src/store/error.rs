//! Errors of the stores.

use crate::oci::{Digest, ManifestError};

/// What went wrong in a store; each names the path, blob or image involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("{action} {what}: {source}{hint}", hint = io_hint(source))]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path or blob.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The directory exists but is not an OCI layout imagectl can use.
    #[error("{path} is not an OCI image layout: {reason}")]
    NotALayout {
        /// The store path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A blob's content does not match its digest or announced size.
    #[error(
        "blob {expected} failed verification: got {actual_digest} ({actual_size} bytes, expected {expected_size})"
    )]
    Corrupt {
        /// The digest it should have.
        expected: Digest,
        /// The size it should have.
        expected_size: u64,
        /// What the bytes hash to.
        actual_digest: Digest,
        /// How many bytes there were.
        actual_size: u64,
    },
    /// A blob that should be there is not.
    #[error("blob {0} is missing from the store (run `imagectl fsck`, then pull the image again)")]
    MissingBlob(Digest),
    /// A blob is bigger than the caller allows for its kind.
    #[error("blob {digest} is {size} bytes, more than the {max} allowed for a manifest or config")]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// `index.json` or a stored manifest is not valid.
    #[error("{what} is damaged: {reason}")]
    Damaged {
        /// The file or blob.
        what: String,
        /// Why.
        reason: String,
    },
    /// A stored manifest does not parse.
    #[error("stored manifest {digest}: {source}")]
    Manifest {
        /// The manifest.
        digest: Digest,
        /// The parse error.
        source: ManifestError,
    },
    /// No image matches what the user typed.
    #[error("no such image: {0} (see `imagectl images`)")]
    NoSuchImage(String),
    /// An ID prefix that fits several images.
    #[error("image ID prefix {0} is ambiguous: give more digits")]
    Ambiguous(String),
    /// Removing by ID an image that has several names needs `-f`.
    #[error(
        "image {id} is referenced by several names ({names}); remove them one by one or use -f"
    )]
    MultipleNames {
        /// Short image ID.
        id: String,
        /// The names.
        names: String,
    },
    /// A container uses the image: it stays (docker's conflict, with its words).
    #[error("{0}")]
    InUse(String),
    /// The Docker Engine cannot be reached or refused the request.
    #[error("{0}")]
    Daemon(String),
    /// This backend cannot do that (e.g. fsck on a daemon).
    #[error("{what} is not possible on {backend}: {hint}")]
    Unsupported {
        /// The operation.
        what: &'static str,
        /// The backend, described.
        backend: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// Moving images between a daemon and its staging store failed.
    #[error("{what}: {reason}")]
    Transfer {
        /// What was moved.
        what: String,
        /// Why it failed.
        reason: String,
    },
}

impl StoreError {
    /// Whether the bytes offered were not the blob (wrong digest, wrong size, longer than
    /// announced), as opposed to the store failing: lets a pull blame the source and try
    /// another one.
    pub fn is_unverified(&self) -> bool {
        match self {
            Self::Corrupt { .. } => true,
            Self::Io { source, .. } => source.kind() == std::io::ErrorKind::InvalidData,
            _ => false,
        }
    }

    /// An I/O error with its context.
    pub fn io(action: &'static str, what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            what: what.into(),
            source,
        }
    }
}

fn io_hint(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind::*;
    match e.kind() {
        PermissionDenied | ReadOnlyFilesystem => {
            " (the store is not writable: check its permissions or choose another with --store)"
        }
        StorageFull | QuotaExceeded => {
            " (free some space, e.g. with `imagectl prune`, or choose another --store)"
        }
        _ => "",
    }
}
