//! Blob downloads (`/v2/<name>/blobs/<digest>`) as byte streams, so layers of any size pass
//! through the caller's hasher to disk without being held in memory.

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::header::CONTENT_LENGTH;
use reqwest::{Method, StatusCode};

use super::error::RegistryError;
use super::transport::{ApiRequest, brief_reason};
use super::{BlobStream, RegistryClient};
use crate::oci::{Digest, Reference};

impl RegistryClient {
    /// Stream a blob of `repo`'s repository. The bytes are not verified here: the caller hashes
    /// them on the way to disk and checks size and digest before making them visible.
    /// Redirects to storage hosts are followed without sending them our `Authorization`.
    pub async fn get_blob(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<BlobStream, RegistryError> {
        let endpoint = self.endpoint(repo.registry());
        let url = endpoint.blob_url(repo.repository(), &digest.to_string());
        let req = ApiRequest {
            method: Method::GET,
            endpoint: &endpoint,
            repository: repo.repository(),
            url: &url,
            accept: None,
            timeout: None,
        };
        let resp = self.inner.transport.send(&req).await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err(RegistryError::BlobUnknown {
                    repository: repo.name(),
                    digest: digest.clone(),
                });
            }
            s => {
                return Err(RegistryError::UnexpectedStatus {
                    url,
                    status: s.as_u16(),
                });
            }
        }
        let content_length = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let stream = resp
            .bytes_stream()
            .map(move |chunk| {
                chunk.map_err(|e| RegistryError::Body {
                    url: url.clone(),
                    reason: brief_reason(&e),
                })
            })
            .boxed();
        Ok(BlobStream {
            content_length,
            stream,
        })
    }
}

impl BlobStream {
    /// The body as a stream of chunks; a broken connection ends it with
    /// [`RegistryError::Body`] (retryable).
    pub fn into_stream(self) -> BoxStream<'static, Result<Bytes, RegistryError>> {
        self.stream
    }
}
