//! Raw HTTP, below authentication: one request sent with retries and backoff, and a
//! response body read with a cap. The token exchange uses it as the API transport does.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, Response, StatusCode};

use super::error::{PLAIN_HTTP_REASON, RegistryError, TLS_REASON};
use super::http_policy::brief_reason;
use super::retry;

/// One request as it is (re)sent on each attempt.
pub(crate) struct RawRequest<'a> {
    /// GET, HEAD or (token exchange only) POST.
    pub(crate) method: Method,
    /// Where to send it.
    pub(crate) url: &'a str,
    /// Headers, including any `Authorization`.
    pub(crate) headers: HeaderMap,
    /// A body for POST; cloned per attempt.
    pub(crate) body: Option<Bytes>,
    /// Whole-request timeout; `None` for blob bodies, which may take hours.
    pub(crate) timeout: Option<Duration>,
}

/// Send `req`, retrying connect failures, timeouts, 5xx and 429 up to [`retry::MAX_RETRIES`]
/// times. Returns the last response even when its status is an error, so callers can map
/// statuses in context; only a request that never got a response is an `Err`.
pub(crate) async fn send_retrying(
    http: &reqwest::Client,
    registry: &str,
    req: &RawRequest<'_>,
) -> Result<Response, RegistryError> {
    send_retrying_max(http, registry, req, retry::MAX_RETRIES).await
}

/// [`send_retrying`] with at most `max_retries` retries (0 for requests that must not be
/// repeated, such as the steps of an upload).
pub(crate) async fn send_retrying_max(
    http: &reqwest::Client,
    registry: &str,
    req: &RawRequest<'_>,
    max_retries: u32,
) -> Result<Response, RegistryError> {
    let mut retry = 0;
    loop {
        let mut builder = http
            .request(req.method.clone(), req.url)
            .headers(req.headers.clone());
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        if let Some(t) = req.timeout {
            builder = builder.timeout(t);
        }
        let wait = match builder.send().await {
            Ok(resp) => {
                tracing::debug!("{} {} -> {}", req.method, req.url, resp.status().as_u16());
                super::stats::record(req.url, Some(resp.status().as_u16()), Some(resp.headers()));
                if resp.status() == StatusCode::TOO_MANY_REQUESTS {
                    retry::log_rate_limited(registry, req.url, resp.headers());
                }
                if !retry::retryable_status(resp.status()) || retry >= max_retries {
                    return Ok(resp);
                }
                let backoff = retry::backoff(retry);
                retry::retry_after(resp.headers()).map_or(backoff, |ra| ra.max(backoff))
            }
            Err(e) => {
                let reason = brief_reason(&e);
                tracing::debug!("{} {} -> {reason}", req.method, req.url);
                super::stats::record(req.url, None, None);
                // A certificate or protocol mismatch does not heal by itself: fail at once.
                let tls = reason.starts_with(TLS_REASON) || reason.starts_with(PLAIN_HTTP_REASON);
                if tls || !retry::retryable_error(&e) || retry >= max_retries {
                    return Err(RegistryError::Unreachable {
                        registry: registry.to_string(),
                        url: req.url.to_string(),
                        reason,
                    });
                }
                retry::backoff(retry)
            }
        };
        retry += 1;
        super::stats::record_retry(req.url);
        tracing::debug!(
            "retrying {} {} in {}ms ({retry}/{max_retries})",
            req.method,
            req.url,
            wait.as_millis(),
        );
        tokio::time::sleep(wait).await;
    }
}

/// Read a whole response body, refusing more than `cap` bytes (whatever `Content-Length`
/// claims). `Ok(None)` means the cap was exceeded.
pub(crate) async fn read_capped(
    mut resp: Response,
    cap: u64,
    url: &str,
) -> Result<Option<Bytes>, RegistryError> {
    if resp.content_length().is_some_and(|n| n > cap) {
        return Ok(None);
    }
    let mut buf = bytes::BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() as u64 + chunk.len() as u64 > cap {
                    return Ok(None);
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(Some(buf.freeze())),
            Err(e) => {
                return Err(RegistryError::Body {
                    url: url.to_string(),
                    reason: brief_reason(&e),
                });
            }
        }
    }
}
