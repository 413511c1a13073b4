//! A registry repository as an [`ImageSource`]: manifests by digest (verified and cached by
//! the client, so a plan's walk and the pull after it fetch each once) and small configs
//! read whole and verified.

use bytes::{Bytes, BytesMut};
use futures_util::TryStreamExt;

use super::{FetchedManifest, MANIFEST_SIZE_CAP, RegistryClient, RegistryError};
use crate::image::{ImageSource, Node};
use crate::oci::{Descriptor, Digest, Reference};

/// One repository of a registry, read through a client.
#[derive(Clone, Copy, Debug)]
pub struct Remote<'a> {
    client: &'a RegistryClient,
    repo: &'a Reference,
}

impl<'a> Remote<'a> {
    /// The repository `repo` names (its tag or digest is ignored).
    pub fn new(client: &'a RegistryClient, repo: &'a Reference) -> Self {
        Self { client, repo }
    }

    /// `repo@digest`.
    fn at(&self, digest: &Digest) -> Reference {
        self.repo.without_digest().with_digest(digest.clone())
    }
}

impl FetchedManifest {
    /// The fetched manifest as the top of a walk; its descriptor has no platform.
    pub fn into_node(self) -> Node {
        Node {
            desc: Descriptor {
                media_type: self.media_type,
                digest: self.digest,
                size: self.bytes.len() as u64,
                platform: None,
            },
            bytes: self.bytes,
            manifest: self.manifest,
            config: None,
        }
    }
}

impl ImageSource for Remote<'_> {
    type Error = RegistryError;

    async fn manifest(&self, desc: &Descriptor) -> Result<Bytes, RegistryError> {
        Ok(self
            .client
            .get_manifest(&self.at(&desc.digest))
            .await?
            .bytes)
    }

    async fn config(&self, desc: &Descriptor) -> Result<Bytes, RegistryError> {
        let reference = self.at(&desc.digest);
        let too_large = || RegistryError::InvalidResponse {
            url: reference.to_string(),
            reason: format!("the config is larger than {MANIFEST_SIZE_CAP} bytes"),
        };
        if desc.size > MANIFEST_SIZE_CAP {
            return Err(too_large());
        }
        let mut body = self
            .client
            .get_blob(self.repo, &desc.digest)
            .await?
            .into_stream();
        let mut bytes = BytesMut::new();
        while let Some(chunk) = body.try_next().await? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > MANIFEST_SIZE_CAP {
                return Err(too_large());
            }
        }
        let actual = Digest::of(&bytes);
        if actual != desc.digest {
            return Err(RegistryError::InvalidResponse {
                url: reference.to_string(),
                reason: format!(
                    "the config's bytes hash to {actual}: the registry or a proxy altered it"
                ),
            });
        }
        Ok(bytes.freeze())
    }

    async fn blob_size(&self, desc: &Descriptor) -> Result<Option<u64>, RegistryError> {
        self.client.blob_exists(self.repo, &desc.digest).await
    }
}
