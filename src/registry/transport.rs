//! Sending requests to a registry over HTTP: authentication (answering 401 challenges once),
//! retries with backoff for transient failures, and mapping of transport failures to errors.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};

use super::auth::Auth;
use super::challenge::Challenge;
use super::endpoint::Endpoint;
use super::error::{PLAIN_HTTP_REASON, RegistryError, TLS_REASON};
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
                if !retry::retryable_status(resp.status()) || retry >= retry::MAX_RETRIES {
                    return Ok(resp);
                }
                let backoff = retry::backoff(retry);
                retry::retry_after(resp.headers()).map_or(backoff, |ra| ra.max(backoff))
            }
            Err(e) => {
                let reason = brief_reason(&e);
                tracing::debug!("{} {} -> {reason}", req.method, req.url);
                // A certificate or protocol mismatch does not heal by itself: fail at once.
                let tls = reason.starts_with(TLS_REASON) || reason.starts_with(PLAIN_HTTP_REASON);
                if tls || !retry::retryable_error(&e) || retry >= retry::MAX_RETRIES {
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
        tracing::debug!(
            "retrying {} {} in {}ms ({retry}/{})",
            req.method,
            req.url,
            wait.as_millis(),
            retry::MAX_RETRIES
        );
        tokio::time::sleep(wait).await;
    }
}

/// The innermost cause of a transport failure in a few words (`connection refused`,
/// `dns error: …`, the TLS complaint), rather than reqwest's nested Debug chain.
pub(crate) fn brief_reason(e: &reqwest::Error) -> String {
    let mut innermost: &dyn std::error::Error = e;
    let mut io_kind = None;
    let mut dns = false;
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        dns |= err.to_string().starts_with("dns error");
        innermost = err;
        cur = err.source();
    }
    let inner = innermost.to_string();
    match io_kind {
        Some(std::io::ErrorKind::ConnectionRefused) => return "connection refused".into(),
        Some(std::io::ErrorKind::ConnectionReset) => return "connection reset by peer".into(),
        Some(std::io::ErrorKind::TimedOut) => return "timed out".into(),
        _ => {}
    }
    if dns {
        format!("dns error: {inner}")
    } else if e.is_timeout() {
        "timed out".into()
    } else if e.is_redirect() {
        format!("redirect refused: {inner}")
    } else if inner.contains("InvalidContentType") {
        format!("{PLAIN_HTTP_REASON} ({inner})")
    } else if inner.contains("certificate") || inner.to_ascii_lowercase().contains("handshake") {
        format!("{TLS_REASON}: {inner}")
    } else {
        inner
    }
}

/// The redirect policy for every request: follow up to 10 hops (blob downloads go to
/// S3-style storage), never from HTTPS to plain HTTP. reqwest already drops `Authorization`
/// when a redirect leaves the origin, so tokens never reach the storage host.
pub(crate) fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 10 {
            return attempt.error("too many redirects");
        }
        let downgrade = attempt.url().scheme() == "http"
            && attempt.previous().iter().any(|u| u.scheme() == "https");
        if downgrade {
            attempt.error("registry redirected from HTTPS to plain HTTP")
        } else {
            attempt.follow()
        }
    })
}

/// A distribution API request, before authentication.
pub(crate) struct ApiRequest<'a> {
    /// GET or HEAD.
    pub(crate) method: Method,
    /// Where the registry is.
    pub(crate) endpoint: &'a Endpoint,
    /// The repository path, for the token scope and error messages.
    pub(crate) repository: &'a str,
    /// The full URL.
    pub(crate) url: &'a str,
    /// The `Accept` header, if any.
    pub(crate) accept: Option<&'static str>,
    /// Whole-request timeout (none for blobs).
    pub(crate) timeout: Option<Duration>,
}

/// Sends distribution API requests with whatever authentication the registry asks for.
pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
    pub(crate) auth: Auth,
}

impl Transport {
    /// Send `req` anonymously or with the auth the registry is known to want; on 401 learn the
    /// challenge, authenticate and send once more. Maps 401 (after auth), 403, 429 and 5xx to
    /// errors; returns every other response for the caller to interpret (200, 404, …).
    pub(crate) async fn send(&self, req: &ApiRequest<'_>) -> Result<Response, RegistryError> {
        let registry = req.endpoint.registry.as_str();
        let scope = format!("repository:{}:pull", req.repository);
        let mut answered_challenge = false;
        loop {
            let authorization = self.auth.authorization(req.endpoint, &scope).await?;
            let sent_auth = authorization.clone();
            let mut headers = HeaderMap::new();
            if let Some(a) = req.accept {
                headers.insert(ACCEPT, HeaderValue::from_static(a));
            }
            if let Some(value) = authorization {
                headers.insert(AUTHORIZATION, value);
            }
            let raw = RawRequest {
                method: req.method.clone(),
                url: req.url,
                headers,
                body: None,
                timeout: req.timeout,
            };
            let resp = send_retrying(&self.http, registry, &raw).await?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED {
                let values = resp
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok());
                let challenge = Challenge::from_headers(values);
                if answered_challenge {
                    let mut err = self.unauthorized(registry).await;
                    if let (
                        Ok(Challenge::Bearer { error: Some(e), .. }),
                        RegistryError::Unauthorized {
                            with_credentials, ..
                        },
                    ) = (&challenge, &err)
                        && e == "insufficient_scope"
                    {
                        err = RegistryError::InsufficientScope {
                            registry: registry.to_string(),
                            repository: req.repository.to_string(),
                            with_credentials: *with_credentials,
                        };
                    }
                    return Err(err);
                }
                let challenge = challenge.map_err(|reason| RegistryError::BadChallenge {
                    registry: registry.to_string(),
                    url: req.url.to_string(),
                    reason,
                })?;
                self.auth.learn(registry, challenge);
                if let Some(rejected) = &sent_auth {
                    self.auth.forget_token(registry, &scope, rejected).await;
                }
                answered_challenge = true;
                if sent_auth.is_none() && !self.auth.can_authenticate(registry).await? {
                    // Basic auth with nothing to send: asking again cannot help.
                    return Err(self.unauthorized(registry).await);
                }
                continue;
            }
            return match status {
                StatusCode::FORBIDDEN => Err(RegistryError::Denied {
                    registry: registry.to_string(),
                    repository: req.repository.to_string(),
                }),
                StatusCode::TOO_MANY_REQUESTS => Err(RegistryError::TooManyRequests {
                    registry: registry.to_string(),
                    retry_after: retry::retry_after(resp.headers()),
                }),
                s if s.is_server_error() => Err(RegistryError::Server {
                    url: req.url.to_string(),
                    status: s.as_u16(),
                }),
                _ => Ok(resp),
            };
        }
    }

    /// The error for a registry that keeps answering 401, saying whether we had credentials.
    async fn unauthorized(&self, registry: &str) -> RegistryError {
        match self.auth.credential(registry).await {
            Ok(cred) => RegistryError::Unauthorized {
                registry: registry.to_string(),
                with_credentials: cred.is_some(),
            },
            Err(e) => e,
        }
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
