//! Prometheus metrics of runs: OpenMetrics for a scrape of `/metrics`, the classic text
//! format (0.0.4) for node_exporter's textfile collector, whose parser does not accept
//! OpenMetrics' `_total` counter families. Both from one prometheus-client registry.

use std::path::Path;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::run::RunReport;

/// Metrics could not be written.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Writing or renaming the file failed.
    #[error("cannot write {path}: {source}: check the directory exists and is writable")]
    Write {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    registry: String,
    class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegistryLabel {
    registry: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: String,
}

type Seconds = Gauge<f64, AtomicU64>;

/// Every metric imagectl exports, updated after each run.
pub struct Metrics {
    registry: Registry,
    store_bytes: Gauge,
    store_reclaimable: Gauge,
    store_images: Gauge,
    names: Family<StateLabel, Gauge>,
    last_start: Seconds,
    last_end: Seconds,
    last_duration: Seconds,
    last_success: Gauge,
    runs: Family<ResultLabel, Counter>,
    actions: Family<ActionLabels, Counter>,
    pulled: Counter,
    reclaimed: Counter,
    requests: Family<RequestLabels, Counter>,
    retries: Family<RegistryLabel, Counter>,
    rate_limit: Family<RegistryLabel, Gauge>,
    generation: Gauge,
    load_failed: Gauge,
    load_failures: Counter,
    next_run: Seconds,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("imagectl");
        let m = Metrics {
            store_bytes: Gauge::default(),
            store_reclaimable: Gauge::default(),
            store_images: Gauge::default(),
            names: Family::default(),
            last_start: Seconds::default(),
            last_end: Seconds::default(),
            last_duration: Seconds::default(),
            last_success: Gauge::default(),
            runs: Family::default(),
            actions: Family::default(),
            pulled: Counter::default(),
            reclaimed: Counter::default(),
            requests: Family::default(),
            retries: Family::default(),
            rate_limit: Family::default(),
            generation: Gauge::default(),
            load_failed: Gauge::default(),
            load_failures: Counter::default(),
            next_run: Seconds::default(),
            registry: Registry::default(),
        };
        let info: Family<VersionLabel, Gauge> = Family::default();
        info.get_or_create(&VersionLabel {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .set(1);
        registry.register("build_info", "imagectl's version, as a label", info);
        registry.register_with_unit(
            "store",
            "Content in the store after the last run, each blob counted once",
            Unit::Bytes,
            m.store_bytes.clone(),
        );
        registry.register_with_unit(
            "store_reclaimable",
            "Bytes a prune would free after the last run",
            Unit::Bytes,
            m.store_reclaimable.clone(),
        );
        registry.register(
            "store_images",
            "Images in the store after the last run",
            m.store_images.clone(),
        );
        registry.register(
            "policy_names",
            "Names the policy wants (state=wanted) and, of those, present in or missing from the store",
            m.names.clone(),
        );
        registry.register_with_unit(
            "last_run_start_timestamp",
            "When the last run began, in Unix seconds",
            Unit::Seconds,
            m.last_start.clone(),
        );
        registry.register_with_unit(
            "last_run_end_timestamp",
            "When the last run ended, in Unix seconds",
            Unit::Seconds,
            m.last_end.clone(),
        );
        registry.register_with_unit(
            "last_run_duration",
            "How long the last run took",
            Unit::Seconds,
            m.last_duration.clone(),
        );
        registry.register(
            "last_run_success",
            "1 if the last run did everything it planned, else 0",
            m.last_success.clone(),
        );
        registry.register(
            "runs",
            "Runs by result (success, failure, interrupted)",
            m.runs.clone(),
        );
        registry.register(
            "actions",
            "Actions by kind (pull, tag, untag, remove, prune_blobs, push, delete_tag) and outcome (ok, failed, skipped)",
            m.actions.clone(),
        );
        registry.register_with_unit(
            "pulled",
            "Bytes downloaded into the store",
            Unit::Bytes,
            m.pulled.clone(),
        );
        registry.register_with_unit(
            "reclaimed",
            "Bytes freed in the store",
            Unit::Bytes,
            m.reclaimed.clone(),
        );
        registry.register(
            "registry_requests",
            "Requests sent, by server (host:port; mirrors apart) and status class (2xx..5xx, error)",
            m.requests.clone(),
        );
        registry.register(
            "registry_retries",
            "Requests sent again after a transient failure, by server",
            m.retries.clone(),
        );
        registry.register(
            "registry_rate_limit_remaining",
            "The last ratelimit-remaining a server announced (Docker Hub: pulls left in its window)",
            m.rate_limit.clone(),
        );
        registry.register(
            "policy_generation",
            "Changes of the loaded policy since the daemon started (1: the first policy)",
            m.generation.clone(),
        );
        registry.register(
            "policy_load_failed",
            "1 while the policy on disk does not load and the last good one is in use",
            m.load_failed.clone(),
        );
        registry.register(
            "policy_load_failures",
            "Reads of the policy that failed (the last good policy was kept)",
            m.load_failures.clone(),
        );
        registry.register_with_unit(
            "next_run_timestamp",
            "When the daemon runs next, in Unix seconds",
            Unit::Seconds,
            m.next_run.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Account for a finished run.
    pub fn observe(&self, r: &RunReport) {
        self.store_bytes.set(r.store.bytes as i64);
        self.store_reclaimable.set(r.store.reclaimable_bytes as i64);
        self.store_images.set(r.store.images as i64);
        for (state, n) in [
            ("wanted", r.names.wanted),
            ("present", r.names.present),
            ("missing", r.names.missing),
        ] {
            self.names
                .get_or_create(&StateLabel {
                    state: state.to_string(),
                })
                .set(n as i64);
        }
        self.last_start.set(unix_seconds(r.started));
        self.last_end.set(unix_seconds(r.finished));
        self.last_duration.set(r.duration_seconds);
        self.last_success
            .set(i64::from(r.result == super::RunResult::Success));
        self.runs
            .get_or_create(&ResultLabel {
                result: r.result.as_str().to_string(),
            })
            .inc();
        for ((kind, outcome), n) in r.action_counts() {
            self.actions
                .get_or_create(&ActionLabels { kind, outcome })
                .inc_by(n);
        }
        self.pulled.inc_by(r.bytes_pulled);
        self.reclaimed.inc_by(r.bytes_reclaimed);
        for c in &r.registry_requests {
            self.requests
                .get_or_create(&RequestLabels {
                    registry: c.registry.clone(),
                    class: c.class.clone(),
                })
                .inc_by(c.requests);
        }
        for (registry, n) in &r.retries {
            self.retries
                .get_or_create(&RegistryLabel {
                    registry: registry.clone(),
                })
                .inc_by(*n);
        }
        for (registry, n) in &r.rate_limit_remaining {
            self.rate_limit
                .get_or_create(&RegistryLabel {
                    registry: registry.clone(),
                })
                .set(*n as i64);
        }
        self.policy_loaded(r.policy.generation);
        if r.policy.load_failed {
            self.load_failed.set(1);
        }
        if let Some(next) = r.next_run {
            self.next_run.set(unix_seconds(next));
        }
    }

    /// The policy on disk loaded, as generation `generation`.
    pub fn policy_loaded(&self, generation: u64) {
        self.generation.set(generation as i64);
        self.load_failed.set(0);
    }

    /// The policy on disk did not load; the last good one stays in use.
    pub fn policy_failed(&self) {
        self.load_failed.set(1);
        self.load_failures.inc();
    }

    /// When the next run is due.
    pub fn next_run(&self, at: jiff::Timestamp) {
        self.next_run.set(unix_seconds(at));
    }

    /// OpenMetrics text (what Prometheus asks a scrape target for).
    pub fn openmetrics(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// The classic text format, for node_exporter's textfile collector.
    pub fn text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// `Content-Type` of [`Metrics::openmetrics`].
    pub const OPENMETRICS_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";
    /// `Content-Type` of [`Metrics::text`].
    pub const TEXT_TYPE: &'static str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
}

fn unix_seconds(t: jiff::Timestamp) -> f64 {
    t.as_millisecond() as f64 / 1000.0
}

/// Replace `path` with `bytes` so a reader (node_exporter, `imagectl status`) sees the old
/// file or the new one, never half of one: a temporary file beside it, fsynced, renamed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), MetricsError> {
    use std::io::Write;
    let err = |source| MetricsError::Write {
        path: path.display().to_string(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".imagectl-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    // Readable by the collector (tempfile creates 0600).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(err)?;
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counters follow Prometheus naming in both formats: `_total` after the unit, units
    /// in names, and the classic format announces the `_total` family it writes.
    #[test]
    fn names_follow_conventions() {
        let m = Metrics::new();
        m.pulled.inc_by(5);
        m.runs
            .get_or_create(&ResultLabel {
                result: "success".into(),
            })
            .inc();
        let om = m.openmetrics();
        assert!(om.contains("imagectl_pulled_bytes_total 5"), "{om}");
        assert!(
            om.contains("imagectl_runs_total{result=\"success\"} 1"),
            "{om}"
        );
        assert!(om.contains("# TYPE imagectl_store_bytes gauge"), "{om}");
        assert!(om.ends_with("# EOF\n"), "{om}");
        let text = m.text();
        assert!(
            text.contains("# TYPE imagectl_pulled_bytes_total counter"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }
}
