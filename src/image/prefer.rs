//! Two media as one: content from the first where it has it, else from the second.

use bytes::Bytes;

use super::ImageSource;
use crate::oci::Descriptor;

/// Reads from `first` where it holds the content, else from `then`: a pull takes the
/// manifests the store already has from disk and asks the registry only for the rest.
/// Failures of `first` only mean "not here"; `then`'s are the answer.
pub struct Prefer<A, B> {
    /// Asked first.
    pub first: A,
    /// Asked when `first` cannot answer.
    pub then: B,
}

impl<A: ImageSource, B: ImageSource> ImageSource for Prefer<A, B> {
    type Error = B::Error;

    async fn manifest(&self, desc: &Descriptor) -> Result<Bytes, B::Error> {
        match self.first.manifest(desc).await {
            Ok(bytes) => Ok(bytes),
            Err(_) => self.then.manifest(desc).await,
        }
    }

    async fn config(&self, desc: &Descriptor) -> Result<Bytes, B::Error> {
        match self.first.config(desc).await {
            Ok(bytes) => Ok(bytes),
            Err(_) => self.then.config(desc).await,
        }
    }

    async fn blob_size(&self, desc: &Descriptor) -> Result<Option<u64>, B::Error> {
        match self.first.blob_size(desc).await {
            Ok(Some(size)) => Ok(Some(size)),
            _ => self.then.blob_size(desc).await,
        }
    }

    fn is_damage(error: &B::Error) -> bool {
        B::is_damage(error)
    }
}
