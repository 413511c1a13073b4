//! Reaching a Docker Engine: the host (`DOCKER_HOST` as the docker CLI reads it), the API
//! version both sides speak, and the two things bollard 0.21.1 gets wrong on the wire.
//!
//! bollard sends no `/vX.Y` prefix, so every answer would come in the daemon's newest
//! schema whatever was negotiated; and it encodes `X-Registry-Auth` with the standard
//! base64 alphabet, which the daemon decodes as base64url and silently ignores when it
//! cannot (the pull then goes out anonymous). A request modifier mends both.

use base64::Engine as _;
use bollard::Docker;

use super::super::StoreError;

/// The Engine socket the docker CLI uses when `DOCKER_HOST` is unset.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
/// Oldest API imagectl speaks: Docker 20.10 (Debian 12).
const MIN_API: (u32, u32) = (1, 41);
/// Newest API bollard's models describe; a newer daemon is asked to answer as this one.
const MAX_API: (u32, u32) = (1, 53);
/// Loads and exports of large images stream for a long time.
const TIMEOUT_S: u64 = 3600;

/// The host a `--store docker` without a host means: `$DOCKER_HOST`, else the default
/// socket, as the docker CLI does.
pub fn default_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// A client for `host`, speaking the newest API version both sides know.
pub async fn connect(host: &str) -> Result<(Docker, (u32, u32)), StoreError> {
    let unreachable = |reason: String| {
        StoreError::Daemon(format!(
            "cannot reach the Docker Engine at {host}: {reason}"
        ))
    };
    let raw = if let Some(path) = host.strip_prefix("unix://") {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(unreachable(format!(
                    "{path} does not exist (is dockerd running? start it, or point --store docker:unix:///PATH or DOCKER_HOST at its socket)"
                )));
            }
            _ => {}
        }
        Docker::connect_with_unix(host, TIMEOUT_S, bollard::API_DEFAULT_VERSION)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, TIMEOUT_S, bollard::API_DEFAULT_VERSION)
    } else {
        return Err(StoreError::Daemon(format!(
            "unsupported Docker host {host:?}: imagectl speaks unix:///PATH and tcp://HOST:PORT (plain)"
        )));
    }
    .map_err(|e| unreachable(e.to_string()))?;
    let version = raw.version().await.map_err(|e| {
        let text = chain_text(&e);
        if text.contains("Permission denied") || text.contains("permission denied") {
            unreachable(
                "permission denied on the socket (run as root, or as a member of the docker group)"
                    .to_string(),
            )
        } else if text.contains("Connection refused") || text.contains("No such file") {
            unreachable("connection refused (is dockerd running?)".to_string())
        } else {
            unreachable(text)
        }
    })?;
    let server = version
        .api_version
        .as_deref()
        .and_then(parse_version)
        .ok_or_else(|| unreachable("it reported no API version".to_string()))?;
    if server < MIN_API {
        return Err(StoreError::Daemon(format!(
            "the Docker Engine at {host} speaks API {}.{}; imagectl needs {}.{} (Docker 20.10) or newer: upgrade the Engine",
            server.0, server.1, MIN_API.0, MIN_API.1
        )));
    }
    // DOCKER_API_VERSION pins the version as it does for the docker CLI.
    let api = std::env::var("DOCKER_API_VERSION")
        .ok()
        .and_then(|v| parse_version(&v))
        .unwrap_or_else(|| server.min(MAX_API));
    let prefix = format!("/v{}.{}", api.0, api.1);
    let docker = raw.with_request_modifier(move |req| mend(req, &prefix));
    Ok((docker, api))
}

/// An error with its causes, which bollard's own text leaves out ("client error (Connect)").
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cause = c.source();
    }
    text
}

/// Prefix the path with the API version and re-encode `X-Registry-Auth` as base64url.
fn mend(mut req: bollard::BollardRequest, prefix: &str) -> bollard::BollardRequest {
    let uri = req.uri().clone();
    let pq = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    if !pq.starts_with("/v1.") {
        let mut parts = uri.into_parts();
        if let Ok(p) = format!("{prefix}{pq}").parse() {
            parts.path_and_query = Some(p);
            if let Ok(u) = http::Uri::from_parts(parts) {
                *req.uri_mut() = u;
            }
        }
    }
    if let Some(v) = req.headers().get("X-Registry-Auth").cloned()
        && let Ok(text) = v.to_str()
        && let Ok(json) = base64::engine::general_purpose::STANDARD.decode(text)
    {
        let url = base64::engine::general_purpose::URL_SAFE.encode(json);
        if let Ok(value) = http::HeaderValue::from_str(&url) {
            req.headers_mut().insert("X-Registry-Auth", value);
        }
    }
    req
}

/// A daemon's error, in one line: bollard's "Docker responded with status code 409:
/// conflict: …" becomes docker's own words.
pub fn daemon_error(e: bollard::errors::Error) -> StoreError {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message,
        } => StoreError::InUse(message),
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message,
        } => StoreError::NoSuchImage(message),
        bollard::errors::Error::DockerResponseServerError { message, .. } => {
            StoreError::Daemon(format!("the Docker Engine refused: {message}"))
        }
        bollard::errors::Error::DockerStreamError { error } => {
            StoreError::Daemon(format!("the Docker Engine reported: {error}"))
        }
        other => StoreError::Daemon(format!(
            "talking to the Docker Engine: {}",
            chain_text(&other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version prefix is added once and the auth header becomes base64url.
    #[test]
    fn requests_are_mended() {
        let json = r#"{"username":"u","password":"p>?~"}"#;
        let std = base64::engine::general_purpose::STANDARD.encode(json);
        assert!(std.contains('+') || std.contains('/'), "{std}");
        let req = http::Request::builder()
            .uri("http://localhost/images/json?all=false")
            .header("X-Registry-Auth", std)
            .body(bollard::body_full(bytes::Bytes::new()))
            .unwrap();
        let req = mend(req, "/v1.41");
        assert_eq!(
            req.uri().path_and_query().unwrap().as_str(),
            "/v1.41/images/json?all=false"
        );
        let auth = req.headers()["X-Registry-Auth"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(!auth.contains('+') && !auth.contains('/'));
        let decoded = base64::engine::general_purpose::URL_SAFE
            .decode(auth)
            .unwrap();
        assert_eq!(decoded, json.as_bytes());
        let again = mend(req, "/v1.41");
        assert_eq!(again.uri().path(), "/v1.41/images/json");
    }
}
