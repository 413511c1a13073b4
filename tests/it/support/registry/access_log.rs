//! The registry's access log, parsed: one [`Request`] per line, so a test can count the
//! requests a command made.

/// One request line of the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Path and query, as requested (`/v2/demo/app/manifests/1.0`).
    pub path: String,
    pub status: u16,
    pub user_agent: String,
}

/// A position in the access log; requests after it are "since" the mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogMark(pub(super) usize);

pub(super) fn count(reqs: &[Request], method: &str, path_substring: &str) -> usize {
    reqs.iter()
        .filter(|r| r.method == method && r.path.contains(path_substring))
        .count()
}

/// Parses `127.0.0.1 - - [date] "GET /v2/x HTTP/1.1" 200 2 "" "ua"`.
pub(super) fn parse_access_line(line: &str) -> Option<Request> {
    // The user field is always "-": distribution does not log the authenticated user there.
    let (_, rest) = line.split_once('[')?;
    let q1 = rest.find('"')?;
    let rest = &rest[q1 + 1..];
    let q2 = rest.find('"')?;
    let mut req = rest[..q2].split_whitespace();
    let method = req.next()?.to_string();
    let path = req.next()?.to_string();
    let after = &rest[q2 + 1..];
    let status = after.split_whitespace().next()?.parse().ok()?;
    let user_agent = after
        .rsplit('"')
        .nth(1)
        .map(String::from)
        .unwrap_or_default();
    Some(Request {
        method,
        path,
        status,
        user_agent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The access-log parser reads method, path, status and user agent.
    #[test]
    fn parses_access_log_line() {
        let r = parse_access_line(
            r#"127.0.0.1 - - [28/Nov/2026:21:19:05 +0000] "GET /v2/demo/multi/manifests/v2s2 HTTP/1.1" 200 544 "" "skopeo/1.9.3""#,
        )
        .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/v2/demo/multi/manifests/v2s2");
        assert_eq!(r.status, 200);
        assert_eq!(r.user_agent, "skopeo/1.9.3");
    }
}
