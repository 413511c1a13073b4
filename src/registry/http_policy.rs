//! What every HTTP client of the registry code shares, apart from the requests themselves:
//! which redirects it follows, and how its failures read in one line. Below `transport`
//! and `settings`, which both build clients.

use super::error::{PLAIN_HTTP_REASON, TLS_REASON};

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
