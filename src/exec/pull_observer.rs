//! What a pull tells the outside while it runs: the observer that hears about resolved
//! references and blob progress, and the image each finished pull yields. Kept apart from
//! the pull itself so the blob download can report progress without importing the pull.

use super::ExecError;
use crate::oci::{Digest, Reference};

/// Hears about progress, to draw bars or print lines. Every method has a no-op default.
pub trait PullObserver: Send + Sync {
    /// A reference resolved to `digest`; `up_to_date` when the store already has it.
    fn resolved(&self, _reference: &Reference, _digest: &Digest, _up_to_date: bool) {}
    /// A blob download began.
    fn blob_started(&self, _digest: &Digest, _size: u64) {}
    /// `bytes` more bytes of a blob arrived.
    fn blob_progress(&self, _digest: &Digest, _bytes: u64) {}
    /// A blob download started over from byte 0 (the registry did not honour a resume), so
    /// progress counted so far no longer holds.
    fn blob_restarted(&self, _digest: &Digest) {}
    /// A blob download ended; `error` is set when it failed.
    fn blob_finished(&self, _digest: &Digest, _error: Option<&str>) {}
    /// An image is complete (or failed).
    fn image_finished(&self, _reference: &Reference, _result: &Result<PulledImage, ExecError>) {}
}

/// One image now in the store.
#[derive(Clone, Debug)]
pub struct PulledImage {
    /// The name it is stored under.
    pub name: Reference,
    /// The manifest (or index) stored.
    pub target: Digest,
    /// Its image ID (config digest; index digest for a multi-platform image).
    pub id: Digest,
    /// What the reference resolved to at the registry.
    pub source_digest: Digest,
    /// Nothing was downloaded: the store already had it.
    pub up_to_date: bool,
}
