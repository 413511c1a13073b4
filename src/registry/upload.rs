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

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, stream};
use reqwest::header::{
    CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION,
};
use reqwest::{Method, Response, StatusCode};

use super::endpoint::Endpoint;
use super::error::RegistryError;
use super::transport::{ApiRequest, Payload, read_capped};
use super::{RegistryClient, retry};
use crate::oci::{Digest, Reference};

/// How long a registry may take to answer once it has every byte of an upload (it may be
/// moving a large blob into place in remote storage).
const ANSWER_AFTER_BODY: Duration = Duration::from_secs(600);
/// How often a running upload checks its progress.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Whole uploads tried per blob (the first and two restarts) on transient failures.
const UPLOAD_ATTEMPTS: u32 = 3;
/// PATCH chunk size for registries that refuse a monolithic upload.
pub const CHUNK_SIZE: u64 = 16 << 20;
/// Error bodies are small JSON documents; more is not read.
const ERROR_BODY_CAP: u64 = 64 << 10;
/// Small upload requests (POST, DELETE, the closing PUT of a chunked upload).
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// A blob body: chunks of bytes, ending early with an error if the source fails.
pub type BlobBody = BoxStream<'static, Result<Bytes, RegistryError>>;

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

fn uploads_url(endpoint: &Endpoint, repo: &Reference) -> Result<url::Url, RegistryError> {
    let url = endpoint.blob_url(repo.repository(), "uploads/");
    url::Url::parse(&url).map_err(|e| RegistryError::InvalidResponse {
        url,
        reason: format!("not a URL: {e}"),
    })
}

/// The upload session URL from `Location`, resolved against the request URL (the spec
/// allows relative and absolute values) with its query (the session state) kept.
fn location(resp: &Response, request_url: &str) -> Result<String, RegistryError> {
    let invalid = |reason: String| RegistryError::InvalidResponse {
        url: strip_query(request_url),
        reason,
    };
    let value = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| invalid("upload response without a Location header".into()))?;
    resolve_location(request_url, value).map_err(invalid)
}

fn resolve_location(request_url: &str, value: &str) -> Result<String, String> {
    let base = url::Url::parse(request_url).map_err(|e| format!("not a URL: {e}"))?;
    let next = base
        .join(value.trim())
        .map_err(|e| format!("bad Location {value:?}: {e}"))?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(format!("Location {value:?} is not an http(s) URL"));
    }
    if base.scheme() == "https" && next.scheme() == "http" {
        return Err("Location downgrades the upload from HTTPS to plain HTTP".into());
    }
    Ok(next.to_string())
}

/// The session URL with `digest=` added to whatever query it already has.
fn with_digest(session: &str, digest: &Digest) -> Result<String, RegistryError> {
    let mut url = url::Url::parse(session).map_err(|e| RegistryError::InvalidResponse {
        url: strip_query(session),
        reason: format!("not a URL: {e}"),
    })?;
    url.query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    Ok(url.to_string())
}

/// A URL without its query, for messages: upload state does not belong in them.
fn strip_query(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).expect("ASCII digits and dashes")
}

fn octet_stream(len: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    h
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

/// A non-success answer to a write as an error: 404/400/… carry a distribution error body
/// (`{"errors":[{"code":…,"message":…}]}`) whose first entry is quoted.
pub(crate) async fn refused(resp: Response, what: String) -> RegistryError {
    let status = resp.status().as_u16();
    let url = resp.url().to_string();
    let body = read_capped(resp, ERROR_BODY_CAP, &url)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let (code, message) = error_code(&body).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&body);
        ("-".to_string(), text.chars().take(200).collect::<String>())
    });
    RegistryError::Refused {
        what,
        status,
        code,
        message: message.replace('\n', " "),
    }
}

/// The first `(code, message)` of a distribution error body.
pub(crate) fn error_code(body: &[u8]) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: String,
        #[serde(default)]
        message: String,
    }
    let b: Body = serde_json::from_slice(body).ok()?;
    let e = b.errors.into_iter().next()?;
    Some((e.code, e.message))
}

/// `body` checked on the way out: at most `size` bytes, and exactly `size` by its end. A
/// failure of the source is kept in `failure` (the HTTP stack only passes on its text), so
/// the upload reports the source's error rather than a broken connection.
fn checked(
    body: BlobBody,
    digest: Digest,
    size: u64,
    failure: Arc<Mutex<Option<RegistryError>>>,
    progress: Progress,
) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    let state = (body, 0u64, false);
    stream::unfold(state, move |(mut body, seen, ended)| {
        let digest = digest.clone();
        let failure = failure.clone();
        let progress = progress.clone();
        async move {
            if ended {
                return None;
            }
            let fail = |e: RegistryError| {
                let text = e.to_string();
                *failure
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                Some((
                    Err(std::io::Error::other(text)),
                    (stream::empty().boxed(), seen, true),
                ))
            };
            match body.next().await {
                Some(Ok(chunk)) => {
                    let seen = seen + chunk.len() as u64;
                    if seen > size {
                        return fail(RegistryError::UploadSource {
                            digest,
                            reason: format!("the source has more than the {size} bytes announced"),
                        });
                    }
                    *progress
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                        (Instant::now(), seen == size);
                    Some((Ok(chunk), (body, seen, false)))
                }
                Some(Err(e)) => fail(e),
                None if seen < size => fail(RegistryError::UploadSource {
                    digest,
                    reason: format!("the source ended after {seen} of {size} bytes"),
                }),
                None => None,
            }
        }
    })
    .boxed()
}

/// When the body of an upload last moved, and whether all of it was read.
type Progress = Arc<Mutex<(Instant, bool)>>;

/// Run an upload request, failing it (retryably) when its body stops moving for the read
/// timeout, or the registry does not answer within [`ANSWER_AFTER_BODY`] of the last
/// byte. (The upload client has no read timeout of its own: reqwest's would also count
/// the whole time spent sending.)
async fn watched(
    sent: impl Future<Output = Result<Response, RegistryError>>,
    progress: &Progress,
    registry: &str,
    url: &str,
) -> Result<Response, RegistryError> {
    tokio::pin!(sent);
    loop {
        tokio::select! {
            resp = &mut sent => return resp,
            _ = tokio::time::sleep(WATCH_EVERY) => {
                let (last, all_read) =
                    *progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let limit = if all_read { ANSWER_AFTER_BODY } else { super::limit::read_timeout() };
                if last.elapsed() > limit {
                    return Err(RegistryError::Unreachable {
                        registry: registry.to_string(),
                        url: strip_query(url),
                        reason: format!(
                            "timed out: the upload made no progress for {}s",
                            limit.as_secs()
                        ),
                    });
                }
            }
        }
    }
}

fn take_failure(failure: &Mutex<Option<RegistryError>>) -> Option<RegistryError> {
    failure
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

/// The shared source of a chunked upload and a piece of a chunk it read too far.
type Shared = Arc<
    tokio::sync::Mutex<(
        BoxStream<'static, Result<Bytes, std::io::Error>>,
        Option<Bytes>,
    )>,
>;

/// The next `n` bytes of `shared` as a stream of their own (one PATCH body).
fn take(shared: Shared, n: u64) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    stream::unfold((shared, n), |(shared, left)| async move {
        if left == 0 {
            return None;
        }
        let mut guard = shared.lock().await;
        let next = match guard.1.take() {
            Some(b) => Some(Ok(b)),
            None => guard.0.next().await,
        };
        let mut chunk = match next {
            Some(Ok(c)) => c,
            Some(Err(e)) => return Some((Err(e), (shared.clone(), 0))),
            // The length check of `checked` reports a short source.
            None => return None,
        };
        if chunk.len() as u64 > left {
            guard.1 = Some(chunk.split_off(left as usize));
        }
        let len = chunk.len() as u64;
        drop(guard);
        Some((Ok(chunk), (shared, left - len)))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    #[test]
    fn locations_resolve_relative_and_absolute() {
        let start = "http://r:5000/v2/a/blobs/uploads/";
        assert_eq!(
            resolve_location(start, "/v2/a/blobs/uploads/u1?_state=x%3D").unwrap(),
            "http://r:5000/v2/a/blobs/uploads/u1?_state=x%3D"
        );
        assert_eq!(
            resolve_location(start, "http://r:5000/v2/a/blobs/uploads/u2?s=1").unwrap(),
            "http://r:5000/v2/a/blobs/uploads/u2?s=1"
        );
        assert!(resolve_location("https://r/v2/", "http://r/v2/x").is_err());
        assert!(resolve_location(start, "ftp://r/x").is_err());
        let d = Digest::of(b"");
        assert_eq!(
            with_digest("http://r/v2/a/blobs/uploads/u?_state=x%3D", &d).unwrap(),
            format!(
                "http://r/v2/a/blobs/uploads/u?_state=x%3D&digest=sha256%3A{}",
                d.hex()
            )
        );
    }

    #[test]
    fn error_bodies() {
        let body = br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#;
        assert_eq!(
            error_code(body),
            Some((
                "DIGEST_INVALID".into(),
                "provided digest did not match uploaded content".into()
            ))
        );
        assert_eq!(error_code(b"<html>"), None);
    }

    fn progress() -> Progress {
        Arc::new(Mutex::new((Instant::now(), false)))
    }

    fn body_of(parts: &[&'static [u8]]) -> BlobBody {
        let parts: Vec<_> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        stream::iter(parts).boxed()
    }

    #[tokio::test]
    async fn length_is_checked() {
        let d = Digest::of(b"abcdef");
        let failure = Arc::new(Mutex::new(None));
        let ok: Vec<Bytes> = checked(
            body_of(&[b"abc", b"def"]),
            d.clone(),
            6,
            failure.clone(),
            progress(),
        )
        .try_collect()
        .await
        .unwrap();
        assert_eq!(ok.concat(), b"abcdef");
        let short: Result<Vec<Bytes>, _> = checked(
            body_of(&[b"abc"]),
            d.clone(),
            6,
            failure.clone(),
            progress(),
        )
        .try_collect()
        .await;
        assert!(short.is_err());
        assert!(
            take_failure(&failure)
                .unwrap()
                .to_string()
                .contains("ended after 3 of 6")
        );
        let long: Result<Vec<Bytes>, _> =
            checked(body_of(&[b"abcdefg"]), d, 6, failure.clone(), progress())
                .try_collect()
                .await;
        assert!(long.is_err());
        assert!(
            take_failure(&failure)
                .unwrap()
                .to_string()
                .contains("more than the 6")
        );
    }

    #[tokio::test]
    async fn chunks_split_the_source_exactly() {
        let src = checked(
            body_of(&[b"abcde", b"fgh", b"ijklmnop"]),
            Digest::of(b""),
            16,
            Arc::new(Mutex::new(None)),
            progress(),
        );
        let shared: Shared = Arc::new(tokio::sync::Mutex::new((src, None)));
        let mut parts = Vec::new();
        for _ in 0..3 {
            let part: Vec<Bytes> = take(shared.clone(), 6).try_collect().await.unwrap();
            parts.push(part.concat());
        }
        assert_eq!(
            parts,
            vec![b"abcdef".to_vec(), b"ghijkl".to_vec(), b"mnop".to_vec()]
        );
    }
}
