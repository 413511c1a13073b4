//! Sending requests to a registry's API: authentication (answering 401 challenges once),
//! retries with backoff for transient failures (through `raw`), and mapping of transport
//! failures to errors.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use tokio::sync::OwnedSemaphorePermit;

use super::auth::Auth;
use super::challenge::Challenge;
use super::endpoint::Endpoint;
use super::error::{HTTPS_SERVER_REASON, RegistryError};
use super::http_policy::brief_reason;
use super::limit::HostLimits;
use super::raw::{RawRequest, send_retrying_max};
use super::retry;

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

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::super::http_policy::redirect_policy;
    use super::super::raw::send_retrying;
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
