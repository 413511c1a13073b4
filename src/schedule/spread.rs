//! Spreading a fleet: each host waits a fixed offset inside the jitter window, derived from
//! its identity, so hosts on one schedule do not reach the registry in the same second and
//! a restart keeps a host in its slot. And the backoff after failed runs.

use std::time::Duration;

use sha2::{Digest, Sha256};

/// The offset of the host named `key` inside `window`: uniform over the window across
/// hosts, the same on every call for one key.
pub fn host_offset(key: &str, window: Duration) -> Duration {
    let millis = window.as_millis() as u64;
    if millis == 0 {
        return Duration::ZERO;
    }
    let hash = Sha256::digest(key.as_bytes());
    let n = u64::from_be_bytes(hash[..8].try_into().expect("8 bytes"));
    Duration::from_millis(n % millis)
}

/// The wait after the `failures`-th failed run in a row (1-based): `base` doubled per
/// further failure, at most `cap`.
pub fn backoff(failures: u32, base: Duration, cap: Duration) -> Duration {
    let shift = failures.saturating_sub(1).min(20);
    base.saturating_mul(1u32 << shift).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hundred hosts land in every tenth of the window, and each host always in the same
    /// place.
    #[test]
    fn offsets_spread_and_are_stable() {
        let window = Duration::from_secs(600);
        let mut buckets = [0usize; 10];
        for i in 0..100 {
            let key = format!("machine-{i:032x}");
            let o = host_offset(&key, window);
            assert!(o < window);
            assert_eq!(o, host_offset(&key, window));
            buckets[(o.as_secs() / 60) as usize] += 1;
        }
        assert!(buckets.iter().all(|&b| b >= 3), "{buckets:?}");
        assert_eq!(host_offset("x", Duration::ZERO), Duration::ZERO);
    }

    /// Backoff doubles from the base and stops at the cap.
    #[test]
    fn backoff_doubles_to_the_cap() {
        let base = Duration::from_secs(30);
        let cap = Duration::from_secs(600);
        let waits: Vec<u64> = (1..=7).map(|f| backoff(f, base, cap).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(backoff(1000, base, cap), cap);
    }
}
