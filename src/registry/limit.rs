//! Limits on how hard one run leans on a registry: a bounded number of requests in flight
//! per registry host, and the read timeout that ends a stalled transfer. Both can be tuned
//! by environment variables (for tests and unusual networks), documented in the README.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Requests (and blob bodies being read) in flight at once towards one registry host,
/// whatever the pull concurrency: registries throttle clients that open too many
/// connections, and Docker Hub counts them.
pub(crate) const DEFAULT_PER_REGISTRY: usize = 8;
/// Overrides [`DEFAULT_PER_REGISTRY`] (a positive integer).
pub(crate) const PER_REGISTRY_ENV: &str = "IMAGECTL_MAX_REQUESTS_PER_REGISTRY";

/// A stalled read (no byte for this long) aborts even a blob download, whose total time is
/// otherwise unbounded; the download then resumes where it stopped.
pub(crate) const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Overrides [`DEFAULT_READ_TIMEOUT`] in whole seconds (a positive integer).
pub(crate) const READ_TIMEOUT_ENV: &str = "IMAGECTL_READ_TIMEOUT_SECS";

/// A positive integer from the environment variable `name`, or `default` when unset; an
/// unusable value is ignored with a warning rather than failing every command.
fn env_positive(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                tracing::warn!("ignoring {name}={v:?}: expected a positive integer");
                default
            }
        },
        Err(_) => default,
    }
}

/// The read timeout to use, from [`READ_TIMEOUT_ENV`] or the default.
pub(crate) fn read_timeout() -> Duration {
    Duration::from_secs(env_positive(
        READ_TIMEOUT_ENV,
        DEFAULT_READ_TIMEOUT.as_secs(),
    ))
}

/// One semaphore per registry host, created on first use.
pub(crate) struct HostLimits {
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl HostLimits {
    /// Limits of [`PER_REGISTRY_ENV`] (or the default) requests per host.
    pub(crate) fn from_env() -> Self {
        Self::new(env_positive(PER_REGISTRY_ENV, DEFAULT_PER_REGISTRY as u64) as usize)
    }

    /// Limits of `per_host` requests per host.
    pub(crate) fn new(per_host: usize) -> Self {
        Self {
            per_host: per_host.max(1),
            hosts: Mutex::default(),
        }
    }

    /// Wait for a slot towards `host`; the slot is free again when the permit is dropped.
    pub(crate) async fn acquire(&self, host: &str) -> OwnedSemaphorePermit {
        let sem = self
            .hosts
            .lock()
            .expect("host limits poisoned")
            .entry(host.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone();
        sem.acquire_owned().await.expect("semaphore never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_per_host_independent_between_hosts() {
        let limits = HostLimits::new(2);
        let a1 = limits.acquire("a").await;
        let _a2 = limits.acquire("a").await;
        // A third request to `a` waits; `b` is not affected.
        let third = tokio::time::timeout(Duration::from_millis(50), limits.acquire("a")).await;
        assert!(third.is_err());
        let _b = limits.acquire("b").await;
        drop(a1);
        let third = tokio::time::timeout(Duration::from_millis(50), limits.acquire("a")).await;
        assert!(third.is_ok());
    }
}
