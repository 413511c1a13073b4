//! Blob downloads (`/v2/<name>/blobs/<digest>`) as byte streams, so layers of any size pass
//! through the caller's hasher to disk without being held in memory.

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, HeaderMap, HeaderValue, RANGE};
use reqwest::{Method, StatusCode};

use tokio::sync::OwnedSemaphorePermit;

use super::endpoint::Endpoint;
use super::error::RegistryError;
use super::http_policy::brief_reason;
use super::transport::ApiRequest;
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
        self.get_blob_from(repo, digest, 0).await
    }

    /// Stream a blob from byte `offset` on (`Range: bytes=offset-`), to resume a download
    /// that broke after `offset` bytes. A registry may ignore the range and send the whole
    /// blob: [`BlobStream::offset`] says where the body really starts.
    pub async fn get_blob_from(
        &self,
        repo: &Reference,
        digest: &Digest,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        let ((resp, permit, start), endpoint) = self
            .read_any(repo.registry(), Some(digest), |endpoint| async move {
                self.blob_response(&endpoint, repo, digest, offset).await
            })
            .await?;
        if endpoint.mirror {
            tracing::debug!("blob {digest} of {} from {}", repo.name(), endpoint.label());
        }
        let url = endpoint.blob_url(repo.repository(), &digest.to_string());
        let content_length = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let stream = resp
            .bytes_stream()
            .map(move |chunk| {
                // The registry slot is held until the body is dropped.
                let _held = &permit;
                chunk.map_err(|e| RegistryError::Body {
                    url: url.clone(),
                    reason: brief_reason(&e),
                })
            })
            .boxed();
        Ok(BlobStream {
            content_length,
            offset: start,
            mirror: endpoint.mirror.then(|| endpoint.url()),
            stream,
        })
    }

    /// GET a blob (from `offset` on) at one endpoint: the response, the registry slot it
    /// holds, and where its body starts. Anything but 200 (or 206 for a range) is an error.
    async fn blob_response(
        &self,
        endpoint: &Endpoint,
        repo: &Reference,
        digest: &Digest,
        offset: u64,
    ) -> Result<(reqwest::Response, OwnedSemaphorePermit, u64), RegistryError> {
        let url = endpoint.blob_url(repo.repository(), &digest.to_string());
        let req = ApiRequest {
            method: Method::GET,
            endpoint,
            repository: repo.repository(),
            url: &url,
            accept: None,
            timeout: None,
        };
        let mut extra = HeaderMap::new();
        if offset > 0 {
            let range = HeaderValue::from_str(&format!("bytes={offset}-"))
                .expect("a number is a valid header value");
            extra.insert(RANGE, range);
        }
        let (resp, permit) = self.inner.transport.send_held(&req, extra).await?;
        let start = match resp.status() {
            StatusCode::OK => 0,
            StatusCode::PARTIAL_CONTENT if offset > 0 => content_range_start(resp.headers())
                .ok_or_else(|| RegistryError::InvalidResponse {
                    url: url.clone(),
                    reason: "206 Partial Content without a usable Content-Range".into(),
                })?,
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
        };
        Ok((resp, permit, start))
    }
}

/// The first byte position of `Content-Range: bytes START-END/TOTAL`.
fn content_range_start(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(CONTENT_RANGE)?.to_str().ok()?.trim();
    let range = value.strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

impl BlobStream {
    /// The body as a stream of chunks; a broken connection ends it with
    /// [`RegistryError::Body`] (retryable).
    pub fn into_stream(self) -> BoxStream<'static, Result<Bytes, RegistryError>> {
        self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        let mut h = HeaderMap::new();
        assert_eq!(content_range_start(&h), None);
        h.insert(
            CONTENT_RANGE,
            HeaderValue::from_static("bytes 1000-4999/5000"),
        );
        assert_eq!(content_range_start(&h), Some(1000));
        h.insert(CONTENT_RANGE, HeaderValue::from_static("bytes */5000"));
        assert_eq!(content_range_start(&h), None);
    }
}
