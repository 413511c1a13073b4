//! The URLs and headers of an upload session: where it starts, where the registry says it
//! continues (`Location`, relative or absolute), and the closing `?digest=`.

use reqwest::Response;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION};

use super::endpoint::Endpoint;
use super::error::RegistryError;
use crate::oci::{Digest, Reference};

pub(super) fn uploads_url(
    endpoint: &Endpoint,
    repo: &Reference,
) -> Result<url::Url, RegistryError> {
    let url = endpoint.blob_url(repo.repository(), "uploads/");
    url::Url::parse(&url).map_err(|e| RegistryError::InvalidResponse {
        url,
        reason: format!("not a URL: {e}"),
    })
}

/// The upload session URL from `Location`, resolved against the request URL (the spec
/// allows relative and absolute values) with its query (the session state) kept.
pub(super) fn location(resp: &Response, request_url: &str) -> Result<String, RegistryError> {
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
pub(super) fn with_digest(session: &str, digest: &Digest) -> Result<String, RegistryError> {
    let mut url = url::Url::parse(session).map_err(|e| RegistryError::InvalidResponse {
        url: strip_query(session),
        reason: format!("not a URL: {e}"),
    })?;
    url.query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    Ok(url.to_string())
}

/// A URL without its query, for messages: upload state does not belong in them.
pub(super) fn strip_query(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

pub(super) fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).expect("ASCII digits and dashes")
}

pub(super) fn octet_stream(len: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
