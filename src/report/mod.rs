//! Reports computed from the inventory and from runs: disk usage (`df`), the run report
//! (`--report`, `imagectl status`) and Prometheus metrics (`/metrics`, `--metrics-file`).

mod metrics;
mod run;
mod usage;

pub use metrics::{Metrics, MetricsError, write_atomically};
pub use run::{
    ActionRecord, NameCounts, PolicyStatus, REPORT_VERSION, RequestCount, RunReport, RunResult,
    StoreStatus,
};
pub use usage::{DiskUsage, ImageUsage, disk_usage};
