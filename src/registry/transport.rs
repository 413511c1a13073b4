//! Sending requests to a registry over HTTP: authentication (answering 401 challenges once),
//! retries with backoff for transient failures, and mapping of transport failures to errors.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use tokio::sync::OwnedSemaphorePermit;

use super::auth::Auth;
use super::challenge::Challenge;
use super::endpoint::Endpoint;
use super::error::{HTTPS_SERVER_REASON, PLAIN_HTTP_REASON, RegistryError, TLS_REASON};
use super::limit::HostLimits;
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
    } else if inner.to_ascii_lowercase().contains("certificate")
        || inner.to_ascii_lowercase().contains("handshake")
        || inner.contains("received fatal alert")
    {
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

/// The body of a request sent with [`Transport::send_with`].
pub(crate) enum Payload {
    /// No body.
    Empty,
    /// A small body held in memory (a manifest), resent on each attempt.
    Bytes(Bytes),
    /// A streamed body (a blob), sent at most once.
    Stream(reqwest::Body),
}

/// Send a request with a streamed body exactly once: a stream cannot be replayed.
async fn send_stream(
    http: &reqwest::Client,
    registry: &str,
    req: &ApiRequest<'_>,
    headers: HeaderMap,
    body: reqwest::Body,
) -> Result<Response, RegistryError> {
    let mut builder = http
        .request(req.method.clone(), req.url)
        .headers(headers)
        .body(body);
    if let Some(t) = req.timeout {
        builder = builder.timeout(t);
    }
    match builder.send().await {
        Ok(resp) => {
            tracing::debug!("{} {} -> {}", req.method, req.url, resp.status().as_u16());
            super::stats::record(req.url, Some(resp.status().as_u16()), Some(resp.headers()));
            Ok(resp)
        }
        Err(e) => {
            let reason = brief_reason(&e);
            tracing::debug!("{} {} -> {reason}", req.method, req.url);
            super::stats::record(req.url, None, None);
            Err(RegistryError::Unreachable {
                registry: registry.to_string(),
                url: req.url.to_string(),
                reason,
            })
        }
    }
}

/// A distribution API request, before authentication.
pub(crate) struct ApiRequest<'a> {
    /// GET, HEAD, or for writes PUT, POST, PATCH and DELETE.
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

/// Whether a plain-HTTP response is Go's answer to plain HTTP sent to a TLS port (the
/// registry's `http.tls`): `HTTP/1.0 400 Bad Request`, which a registry speaking HTTP
/// never sends (its own errors are HTTP/1.1 or later).
fn speaks_https(resp: &Response) -> bool {
    resp.status() == StatusCode::BAD_REQUEST && resp.version() == reqwest::Version::HTTP_10
}

/// Sends distribution API requests with whatever authentication the registry asks for.
/// Requests go through the endpoint's own clients (`Endpoint::http`, and `Endpoint::uploads`
/// without a read timeout for streamed uploads): its TLS profile.
pub(crate) struct Transport {
    pub(crate) auth: Auth,
    /// Requests in flight per registry host.
    pub(crate) limits: HostLimits,
}

impl Transport {
    /// Send `req` anonymously or with the auth the registry is known to want; on 401 learn the
    /// challenge, authenticate and send once more. Maps 401 (after auth), 403, 429 and 5xx to
    /// errors; returns every other response for the caller to interpret (200, 404, …).
    pub(crate) async fn send(&self, req: &ApiRequest<'_>) -> Result<Response, RegistryError> {
        Ok(self.send_held(req, HeaderMap::new()).await?.0)
    }

    /// [`Transport::send`] with `extra` headers (e.g. `Range`), returning the registry slot
    /// the read holds: keep it while reading a long body, so the per-registry limit bounds
    /// connections rather than just request starts. Only reads take a slot (writes go
    /// through [`Transport::send_with`]), so a copy that streams a blob out of a registry
    /// into an upload to the same registry cannot wait on itself.
    pub(crate) async fn send_held(
        &self,
        req: &ApiRequest<'_>,
        extra: HeaderMap,
    ) -> Result<(Response, OwnedSemaphorePermit), RegistryError> {
        let permit = self.limits.acquire(&req.endpoint.origin).await;
        let scope = format!("repository:{}:pull", req.endpoint.path(req.repository));
        let resp = self
            .send_with(req, &scope, extra, Payload::Empty, true)
            .await?;
        Ok((resp, permit))
    }

    /// [`Transport::send`] of a bodiless, idempotent request needing token `scope`.
    pub(crate) async fn send_scoped(
        &self,
        req: &ApiRequest<'_>,
        scope: &str,
    ) -> Result<Response, RegistryError> {
        self.send_with(req, scope, HeaderMap::new(), Payload::Empty, true)
            .await
    }

    /// [`Transport::send`] for any method: `scope` is the token scope the request needs
    /// (space-separated for several, as a cross-repository mount needs), `headers` are
    /// added, `payload` is the body. Only `idempotent` requests are retried on transient
    /// failures; a streamed body is sent once (the caller retries the whole upload). A 403
    /// for a scope with `push` is [`RegistryError::PushDenied`].
    pub(crate) async fn send_with(
        &self,
        req: &ApiRequest<'_>,
        scope: &str,
        headers: HeaderMap,
        payload: Payload,
        idempotent: bool,
    ) -> Result<Response, RegistryError> {
        let registry = req.endpoint.registry.as_str();
        let (bytes, mut stream) = match payload {
            Payload::Empty => (None, None),
            Payload::Bytes(b) => (Some(b), None),
            Payload::Stream(s) => (None, Some(s)),
        };
        let streamed = stream.is_some();
        // Mirrors get no retries: the next endpoint is the better retry.
        let max_retries = if idempotent && !streamed && !req.endpoint.mirror {
            retry::MAX_RETRIES
        } else {
            0
        };
        // Our credentials are for this registry only: an upload URL elsewhere goes bare.
        let same_origin = req
            .url
            .strip_prefix(req.endpoint.origin.as_str())
            .is_some_and(|rest| rest.starts_with('/'));
        let mut answered_challenge = false;
        loop {
            let authorization = if same_origin {
                self.auth.authorization(req.endpoint, scope).await?
            } else {
                None
            };
            let sent_auth = authorization.clone();
            let mut all = headers.clone();
            if let Some(a) = req.accept {
                all.insert(ACCEPT, HeaderValue::from_static(a));
            }
            if let Some(value) = authorization {
                all.insert(AUTHORIZATION, value);
            }
            let resp = if streamed {
                let Some(body) = stream.take() else {
                    // The body went with an attempt the registry answered with 401.
                    return Err(self.unauthorized(registry).await);
                };
                send_stream(&req.endpoint.uploads, registry, req, all, body).await?
            } else {
                let raw = RawRequest {
                    method: req.method.clone(),
                    url: req.url,
                    headers: all,
                    body: bytes.clone(),
                    timeout: req.timeout,
                };
                send_retrying_max(&req.endpoint.http, registry, &raw, max_retries).await?
            };
            let status = resp.status();
            if req.endpoint.is_plain_http() && speaks_https(&resp) {
                return Err(RegistryError::Unreachable {
                    registry: registry.to_string(),
                    url: req.url.to_string(),
                    reason: HTTPS_SERVER_REASON.to_string(),
                });
            }
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
                        err = if scope.contains("push") {
                            RegistryError::PushDenied {
                                registry: registry.to_string(),
                                repository: req.repository.to_string(),
                            }
                        } else {
                            RegistryError::InsufficientScope {
                                registry: registry.to_string(),
                                repository: req.repository.to_string(),
                                with_credentials: *with_credentials,
                            }
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
                    self.auth.forget_token(registry, scope, rejected).await;
                }
                answered_challenge = true;
                if sent_auth.is_none() && !self.auth.can_authenticate(registry).await? {
                    // Basic auth with nothing to send: asking again cannot help.
                    return Err(self.unauthorized(registry).await);
                }
                continue;
            }
            return match status {
                StatusCode::FORBIDDEN if scope.contains("push") => Err(RegistryError::PushDenied {
                    registry: registry.to_string(),
                    repository: req.repository.to_string(),
                }),
                StatusCode::FORBIDDEN => Err(RegistryError::Denied {
                    registry: registry.to_string(),
                    repository: req.repository.to_string(),
                }),
                StatusCode::TOO_MANY_REQUESTS => {
                    Err(retry::too_many_requests(registry, resp.headers()))
                }
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

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;

    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    }

    /// `openssl s_server -HTTP` on a free port, serving files of `dir` (each file a whole
    /// HTTP response) with a certificate for 127.0.0.1 signed by `dir/ca.pem`.
    fn https_server(dir: &Path) -> (Child, u16) {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=imagectl-test-ca",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "srv.key",
                "-out",
                "srv.csr",
            ],
        );
        std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "srv.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-out",
                "srv.pem",
            ],
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("openssl")
            .args([
                "s_server", "-quiet", "-HTTP", "-cert", "srv.pem", "-key", "srv.key",
            ])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run openssl s_server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        (child, port)
    }

    /// A registry (or its storage) that redirects from HTTPS to plain HTTP is refused: the
    /// plain-HTTP target never sees a request, and the error says why.
    #[tokio::test]
    async fn https_to_http_redirect_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let plain = TcpListener::bind("127.0.0.1:0").unwrap();
        plain.set_nonblocking(true).unwrap();
        let plain_port = plain.local_addr().unwrap().port();
        std::fs::write(
            dir.path().join("blob"),
            format!(
                "HTTP/1.0 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{plain_port}/blob\r\nContent-Length: 0\r\n\r\n"
            ),
        )
        .unwrap();
        let (mut server, port) = https_server(dir.path());
        let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap())
            .redirect(redirect_policy())
            .build()
            .unwrap();
        let url = format!("https://127.0.0.1:{port}/blob");
        let raw = RawRequest {
            method: Method::GET,
            url: &url,
            headers: HeaderMap::new(),
            body: None,
            timeout: Some(Duration::from_secs(20)),
        };
        let res = send_retrying(&http, "127.0.0.1", &raw).await;
        let _ = server.kill();
        let _ = server.wait();
        match res {
            Err(RegistryError::Unreachable { reason, .. }) => {
                assert!(
                    reason.contains("redirected from HTTPS to plain HTTP"),
                    "{reason}"
                );
            }
            other => panic!("expected a refused redirect, got {other:?}"),
        }
        assert!(
            plain.accept().is_err(),
            "the plain-HTTP target was contacted"
        );
    }
}
