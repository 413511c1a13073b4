//! Blob uploads (`/v2/<name>/blobs/uploads/`): existence checks, cross-repository mounts
//! and streamed uploads, so a layer of any size goes from its source to the registry
//! without being held in memory.
//!
//! An upload is a POST that opens a session and a PUT `?digest=` that sends every byte and
//! closes it (monolithic, one request for the data: what docker and skopeo do). Registries
//! behind a proxy that limits request bodies answer that PUT with 413; the upload is then
//! sent again in [`CHUNK_SIZE`] PATCH chunks, each streamed, never buffered. The steps of an
//! upload are not idempotent, so a failed upload is restarted from its POST with the source
//! reopened, never resumed half-way.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, HeaderMap};
use reqwest::{Method, Response, StatusCode};

use super::endpoint::Endpoint;
use super::error::RegistryError;
use super::refusal::refused;
use super::transport::{ApiRequest, Payload};
use super::upload_body::{BlobBody, Progress, checked, take, take_failure, watched};
use super::upload_url::{header, location, octet_stream, uploads_url, with_digest};
use super::{RegistryClient, retry};
use crate::oci::{Digest, Reference};

/// Whole uploads tried per blob (the first and two restarts) on transient failures.
const UPLOAD_ATTEMPTS: u32 = 3;
/// PATCH chunk size for registries that refuse a monolithic upload.
pub const CHUNK_SIZE: u64 = 16 << 20;
/// Small upload requests (POST, DELETE, the closing PUT of a chunked upload).
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the bytes of a blob to upload come from. It can be opened again, so a failed
/// upload restarts from the first byte: a one-shot stream could not be retried.
pub trait BlobSource: Send + Sync {
    /// A fresh stream of the whole blob.
    fn open(&self) -> BoxFuture<'_, Result<BlobBody, RegistryError>>;
}

impl<F> BlobSource for F
where
    F: Fn() -> BoxFuture<'static, Result<BlobBody, RegistryError>> + Send + Sync,
{
    fn open(&self) -> BoxFuture<'_, Result<BlobBody, RegistryError>> {
        self()
    }
}

/// One lock per (registry, repository, blob): distribution 2.8 answers 500 when two uploads
/// of one blob into one repository race, so they never do; `true` once one succeeded.
pub(crate) type UploadSlots =
    Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<bool>>>>;

impl RegistryClient {
    /// HEAD a blob in `repo`'s repository: its size when the registry has it, `None` when
    /// not, so a copy uploads only what is missing.
    pub async fn blob_exists(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let endpoint = self.endpoint(repo.registry());
        let url = endpoint.blob_url(repo.repository(), &digest.to_string());
        let req = api(&endpoint, repo, Method::HEAD, &url, Some(STEP_TIMEOUT));
        let resp = self
            .inner
            .transport
            .send_scoped(&req, &push_scope(repo))
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(Some(
                resp.headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(RegistryError::UnexpectedStatus {
                url,
                status: s.as_u16(),
            }),
        }
    }

    /// Ask the registry to link a blob it already holds in repository `from` (a path in the
    /// same registry) into `repo`, without sending its bytes. `true` when mounted; `false`
    /// when the registry opened an upload instead (the blob is not in `from`, or it does
    /// not mount): that session is cancelled and the caller uploads.
    pub async fn mount_blob(
        &self,
        repo: &Reference,
        digest: &Digest,
        from: &str,
    ) -> Result<bool, RegistryError> {
        let endpoint = self.endpoint(repo.registry());
        let mut url = uploads_url(&endpoint, repo)?;
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from);
        let url = url.to_string();
        let req = api(&endpoint, repo, Method::POST, &url, Some(STEP_TIMEOUT));
        let scope = format!("{} repository:{from}:pull", push_scope(repo));
        let resp = self
            .inner
            .transport
            .send_with(&req, &scope, HeaderMap::new(), Payload::Empty, false)
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                if let Ok(session) = location(&resp, &url) {
                    self.cancel_upload(&endpoint, repo, &session).await;
                }
                Ok(false)
            }
            _ => Err(refused(resp, format!("mounting blob {digest} into {}", repo.name())).await),
        }
    }

    /// Upload a blob of `size` bytes to `repo`'s repository, streaming it from `source`
    /// (monolithic PUT; [`CHUNK_SIZE`] PATCH chunks if the registry answers 413). The
    /// registry checks the digest and `Content-Length`, so corrupt source bytes are refused
    /// ([`RegistryError::UploadDigestMismatch`]). Transient failures restart the whole upload
    /// with the source reopened. Concurrent calls for one blob and repository wait for each
    /// other, and the second returns at once once the first succeeded.
    pub async fn push_blob(
        &self,
        repo: &Reference,
        digest: &Digest,
        size: u64,
        source: &dyn BlobSource,
    ) -> Result<(), RegistryError> {
        self.push_blob_with(repo, digest, size, source, None).await
    }

    /// [`RegistryClient::push_blob`] in PATCH chunks of `chunk_size` bytes from the start,
    /// for registries that refuse large request bodies without saying 413.
    pub async fn push_blob_chunked(
        &self,
        repo: &Reference,
        digest: &Digest,
        size: u64,
        source: &dyn BlobSource,
        chunk_size: u64,
    ) -> Result<(), RegistryError> {
        self.push_blob_with(repo, digest, size, source, Some(chunk_size.max(1)))
            .await
    }

    async fn push_blob_with(
        &self,
        repo: &Reference,
        digest: &Digest,
        size: u64,
        source: &dyn BlobSource,
        mut chunked: Option<u64>,
    ) -> Result<(), RegistryError> {
        let key = format!("{}@{digest}", repo.name());
        let slot = self
            .inner
            .uploads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone();
        let mut done = slot.lock().await;
        if *done {
            return Ok(());
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.upload_once(repo, digest, size, source, chunked).await {
                Ok(()) => {
                    *done = true;
                    return Ok(());
                }
                Err(Upload::TooLarge) if chunked.is_none() => {
                    tracing::debug!(%digest, "registry refused a monolithic upload (413): chunking");
                    chunked = Some(CHUNK_SIZE);
                }
                Err(Upload::TooLarge) => {
                    return Err(RegistryError::Refused {
                        what: format!("blob {digest} for {}", repo.name()),
                        status: 413,
                        code: "-".into(),
                        message: "request body too large even in chunks".into(),
                    });
                }
                Err(Upload::Failed(e)) if attempt < UPLOAD_ATTEMPTS && e.is_retryable() => {
                    tracing::debug!(%digest, attempt, "restarting the upload after: {e}");
                    tokio::time::sleep(retry::backoff(attempt - 1)).await;
                }
                Err(Upload::Failed(e)) => return Err(e),
            }
        }
    }

    async fn upload_once(
        &self,
        repo: &Reference,
        digest: &Digest,
        size: u64,
        source: &dyn BlobSource,
        chunked: Option<u64>,
    ) -> Result<(), Upload> {
        let endpoint = self.endpoint(repo.registry());
        let start = uploads_url(&endpoint, repo)?.to_string();
        let scope = push_scope(repo);
        let req = api(&endpoint, repo, Method::POST, &start, Some(STEP_TIMEOUT));
        let resp = self
            .inner
            .transport
            .send_with(&req, &scope, HeaderMap::new(), Payload::Empty, false)
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(
                refused(resp, format!("starting an upload to {}", repo.name()))
                    .await
                    .into(),
            );
        }
        let mut session = location(&resp, &start)?;
        let failure = Arc::new(Mutex::new(None));
        let progress: Progress = Arc::new(Mutex::new((Instant::now(), false)));
        let body = checked(
            source.open().await?,
            digest.clone(),
            size,
            failure.clone(),
            progress.clone(),
        );
        let what = || format!("blob {digest} for {}", repo.name());

        let result = if let Some(chunk) = chunked {
            let shared = Arc::new(tokio::sync::Mutex::new((body, None::<Bytes>)));
            let mut offset = 0u64;
            while offset < size {
                let n = chunk.min(size - offset);
                let mut headers = octet_stream(n);
                let range = format!("{offset}-{}", offset + n - 1);
                headers.insert(CONTENT_RANGE, header(&range));
                let part = reqwest::Body::wrap_stream(take(shared.clone(), n));
                let req = api(&endpoint, repo, Method::PATCH, &session, None);
                let sent = self.inner.transport.send_with(
                    &req,
                    &scope,
                    headers,
                    Payload::Stream(part),
                    false,
                );
                let resp = watched(sent, &progress, repo.registry(), &session)
                    .await
                    .map_err(|e| take_failure(&failure).unwrap_or(e))?;
                if resp.status() != StatusCode::ACCEPTED {
                    return Err(upload_error(resp, digest, repo, what()).await);
                }
                session = location(&resp, &session)?;
                offset += n;
            }
            let url = with_digest(&session, digest)?;
            let req = api(&endpoint, repo, Method::PUT, &url, Some(STEP_TIMEOUT));
            self.inner
                .transport
                .send_with(&req, &scope, octet_stream(0), Payload::Empty, false)
                .await
        } else {
            let url = with_digest(&session, digest)?;
            let req = api(&endpoint, repo, Method::PUT, &url, None);
            let body = reqwest::Body::wrap_stream(body);
            let sent = self.inner.transport.send_with(
                &req,
                &scope,
                octet_stream(size),
                Payload::Stream(body),
                false,
            );
            watched(sent, &progress, repo.registry(), &url).await
        };
        let resp = result.map_err(|e| take_failure(&failure).unwrap_or(e))?;
        match resp.status() {
            StatusCode::CREATED => Ok(()),
            StatusCode::PAYLOAD_TOO_LARGE if chunked.is_none() => {
                self.cancel_upload(&endpoint, repo, &session).await;
                Err(Upload::TooLarge)
            }
            _ => Err(upload_error(resp, digest, repo, what()).await),
        }
    }

    /// Best effort: tell the registry to drop an upload session we will not use.
    async fn cancel_upload(&self, endpoint: &Endpoint, repo: &Reference, session: &str) {
        let req = api(endpoint, repo, Method::DELETE, session, Some(STEP_TIMEOUT));
        let sent = self
            .inner
            .transport
            .send_scoped(&req, &push_scope(repo))
            .await;
        if let Err(e) = sent {
            tracing::debug!("cancelling an upload session failed: {e}");
        }
    }
}

/// How one upload attempt ended when it did not succeed.
enum Upload {
    /// 413 for a monolithic PUT: try chunks.
    TooLarge,
    Failed(RegistryError),
}

impl From<RegistryError> for Upload {
    fn from(e: RegistryError) -> Self {
        Self::Failed(e)
    }
}

/// `repository:NAME:pull,push`: what every write to `repo` needs.
pub(crate) fn push_scope(repo: &Reference) -> String {
    format!("repository:{}:pull,push", repo.repository())
}

pub(crate) fn api<'a>(
    endpoint: &'a Endpoint,
    repo: &'a Reference,
    method: Method,
    url: &'a str,
    timeout: Option<Duration>,
) -> ApiRequest<'a> {
    ApiRequest {
        method,
        endpoint,
        repository: repo.repository(),
        url,
        accept: None,
        timeout,
    }
}

/// The error for a failed upload step: a digest mismatch by name, anything else with the
/// registry's own error code.
async fn upload_error(resp: Response, digest: &Digest, repo: &Reference, what: String) -> Upload {
    let err = refused(resp, what).await;
    if let RegistryError::Refused { code, .. } = &err
        && code == "DIGEST_INVALID"
    {
        return Upload::Failed(RegistryError::UploadDigestMismatch {
            repository: repo.name(),
            digest: digest.clone(),
        });
    }
    Upload::Failed(err)
}
