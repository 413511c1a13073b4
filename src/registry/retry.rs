//! When and how long to wait before retrying an idempotent request: exponential backoff with
//! jitter, and the registry's own `Retry-After`.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::error::RegistryError;

/// Retries after the first attempt.
pub(crate) const MAX_RETRIES: u32 = 3;
/// The first backoff; doubled on each further retry.
const BASE: Duration = Duration::from_millis(200);
/// Never wait longer than this for one `Retry-After`, however long the registry asks for.
pub(crate) const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// Whether a status means "try again": rate limits and server-side failures.
pub(crate) fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// Whether a send error is transient: no connection, a timeout, or a connection that broke
/// before the response (common when a pooled keep-alive connection was closed by the server).
/// Refused redirects and malformed requests are not.
pub(crate) fn retryable_error(e: &reqwest::Error) -> bool {
    !e.is_redirect() && !e.is_builder() && (e.is_connect() || e.is_timeout() || e.is_request())
}

/// The wait before retry number `retry` (0-based): 200ms, 400ms, 800ms plus up to 100ms of
/// jitter, so many clients failing together do not retry in lockstep.
pub(crate) fn backoff(retry: u32) -> Duration {
    BASE * 2u32.pow(retry.min(10)) + jitter(Duration::from_millis(100))
}

/// The wait a `Retry-After` header asks for (delta-seconds or an HTTP date), capped.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
        let now = jiff::Timestamp::now();
        Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(RETRY_AFTER_CAP))
}

/// Docker Hub's quota headers (`ratelimit-remaining: 0;w=21600`, `ratelimit-limit:
/// 100;w=21600`) in words, so a rate-limited user learns how many pulls are left and over
/// which window. `None` when the registry sent neither.
pub(crate) fn rate_limit(headers: &HeaderMap) -> Option<String> {
    let field = |name: &str| -> Option<(String, Option<String>)> {
        let value = headers.get(name)?.to_str().ok()?.trim();
        let mut parts = value.split(';');
        let count = parts.next()?.trim().to_string();
        let window = parts
            .filter_map(|p| p.trim().strip_prefix("w="))
            .map(|w| w.trim().to_string())
            .next();
        Some((count, window))
    };
    let remaining = field("ratelimit-remaining");
    let limit = field("ratelimit-limit");
    if remaining.is_none() && limit.is_none() {
        return None;
    }
    let window = remaining
        .as_ref()
        .and_then(|r| r.1.clone())
        .or_else(|| limit.as_ref().and_then(|l| l.1.clone()));
    let mut out = format!(
        "ratelimit-remaining {}",
        remaining.map_or("unknown".to_string(), |r| r.0)
    );
    if let Some((l, _)) = limit {
        out.push_str(&format!(" of {l}"));
    }
    if let Some(w) = window {
        out.push_str(&format!(" per {w}s"));
    }
    Some(out)
}

/// The error for a 429 that retrying did not cure, with what the registry said about when
/// to come back and how much quota is left. Also logged (at `-v`) on every 429 seen.
pub(crate) fn too_many_requests(registry: &str, headers: &HeaderMap) -> RegistryError {
    RegistryError::TooManyRequests {
        registry: registry.to_string(),
        retry_after: retry_after(headers),
        rate_limit: rate_limit(headers),
    }
}

/// Log a 429 at info level (`-v`), with the wait asked for and the quota left.
pub(crate) fn log_rate_limited(registry: &str, url: &str, headers: &HeaderMap) {
    tracing::info!(
        "registry {registry} answered 429 Too Many Requests for {url} (Retry-After: {}; {})",
        retry_after(headers).map_or("none".to_string(), |d| format!("{}s", d.as_secs())),
        rate_limit(headers).unwrap_or_else(|| "no ratelimit headers".to_string())
    );
}

/// A random duration below `max`, from the standard library's randomly keyed hasher (no
/// cryptographic quality needed).
fn jitter(max: Duration) -> Duration {
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let max_ms = max.as_millis().max(1) as u64;
    Duration::from_millis(r % max_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        for (retry, base) in [(0, 200), (1, 400), (2, 800)] {
            let d = backoff(retry).as_millis();
            assert!((base..base + 100).contains(&d), "{retry}: {d}");
        }
    }

    #[test]
    fn retry_after_seconds_date_and_cap() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("3600"));
        assert_eq!(retry_after(&h), Some(RETRY_AFTER_CAP));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn docker_hub_rate_limit_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(rate_limit(&h), None);
        h.insert("ratelimit-limit", HeaderValue::from_static("100;w=21600"));
        h.insert("ratelimit-remaining", HeaderValue::from_static("0;w=21600"));
        assert_eq!(
            rate_limit(&h).as_deref(),
            Some("ratelimit-remaining 0 of 100 per 21600s")
        );
        h.remove("ratelimit-limit");
        assert_eq!(
            rate_limit(&h).as_deref(),
            Some("ratelimit-remaining 0 per 21600s")
        );
    }

    #[test]
    fn statuses() {
        assert!(retryable_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(retryable_status(StatusCode::BAD_GATEWAY));
        assert!(!retryable_status(StatusCode::NOT_FOUND));
        assert!(!retryable_status(StatusCode::UNAUTHORIZED));
    }
}
