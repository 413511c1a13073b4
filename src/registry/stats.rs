//! Counters of the requests this process sent to registries: by server and status class,
//! retries, and the last quota a registry announced. They feed the run report and the
//! Prometheus metrics of `imagectl run` and `apply --metrics-file`.
//!
//! Process-wide on purpose: every request passes through the transport's two send
//! functions, Prometheus counters describe a process's lifetime, and a report takes the
//! difference of two snapshots, so no client has to carry a handle to them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::header::HeaderMap;

/// A copy of the counters at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// Requests per (server `host[:port]`, class): `2xx` … `5xx`, or `error` when no
    /// response came back.
    pub requests: BTreeMap<(String, String), u64>,
    /// Retries per server.
    pub retries: BTreeMap<String, u64>,
    /// The last `ratelimit-remaining` each server announced.
    pub rate_limit_remaining: BTreeMap<String, u64>,
}

impl RequestStats {
    /// What happened between `earlier` and `self`; quotas are the latest known.
    pub fn since(&self, earlier: &RequestStats) -> RequestStats {
        let diff = |now: &u64, then: Option<&u64>| now.saturating_sub(then.copied().unwrap_or(0));
        RequestStats {
            requests: self
                .requests
                .iter()
                .map(|(k, v)| (k.clone(), diff(v, earlier.requests.get(k))))
                .filter(|(_, v)| *v > 0)
                .collect(),
            retries: self
                .retries
                .iter()
                .map(|(k, v)| (k.clone(), diff(v, earlier.retries.get(k))))
                .filter(|(_, v)| *v > 0)
                .collect(),
            rate_limit_remaining: self.rate_limit_remaining.clone(),
        }
    }

    /// Requests of every server and class.
    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }
}

static STATS: Mutex<Option<RequestStats>> = Mutex::new(None);

fn with<T>(f: impl FnOnce(&mut RequestStats) -> T) -> T {
    let mut guard = STATS.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(RequestStats::default))
}

/// The counters now.
pub fn snapshot() -> RequestStats {
    with(|s| s.clone())
}

/// The server part of a URL (`registry-1.docker.io`, `127.0.0.1:5000`): the label that
/// tells a mirror's load from its upstream's.
fn server(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| u.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// A request to `url` ended with `status` (`None`: no response).
pub(crate) fn record(url: &str, status: Option<u16>, headers: Option<&HeaderMap>) {
    let server = server(url);
    let class = status.map_or("error".to_string(), |s| format!("{}xx", s / 100));
    let remaining = headers
        .and_then(|h| h.get("ratelimit-remaining"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .and_then(|v| v.trim().parse::<u64>().ok());
    with(|s| {
        *s.requests.entry((server.clone(), class)).or_default() += 1;
        if let Some(r) = remaining {
            s.rate_limit_remaining.insert(server, r);
        }
    });
}

/// A request to `url` is about to be sent again.
pub(crate) fn record_retry(url: &str) {
    let server = server(url);
    with(|s| *s.retries.entry(server).or_default() += 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A difference keeps only what moved, labelled by server and status class.
    #[test]
    fn since_counts_only_new_requests() {
        let before = snapshot();
        record("http://127.0.0.1:59999/v2/a/manifests/1", Some(200), None);
        record("http://127.0.0.1:59999/v2/a/manifests/2", Some(404), None);
        record("http://127.0.0.1:59999/v2/", None, None);
        record_retry("http://127.0.0.1:59999/v2/");
        let mut h = HeaderMap::new();
        h.insert("ratelimit-remaining", "76;w=21600".parse().unwrap());
        record("https://registry-1.example:59998/v2/", Some(200), Some(&h));
        let d = snapshot().since(&before);
        let server = "127.0.0.1:59999".to_string();
        assert_eq!(d.requests.get(&(server.clone(), "2xx".into())), Some(&1));
        assert_eq!(d.requests.get(&(server.clone(), "4xx".into())), Some(&1));
        assert_eq!(d.requests.get(&(server.clone(), "error".into())), Some(&1));
        assert_eq!(d.retries.get(&server), Some(&1));
        assert_eq!(
            d.rate_limit_remaining.get("registry-1.example:59998"),
            Some(&76)
        );
    }
}
