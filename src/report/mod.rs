//! Reports computed from the inventory and from runs: disk usage (`df`), the run report
//! (`--report`, `imagectl status`) and Prometheus metrics (`/metrics`, `--metrics-file`).

mod metrics;
mod run;
mod state;
mod usage;

pub use metrics::{Metrics, MetricsError, write_atomically};
pub use run::{
    ActionRecord, NameCounts, PolicyStatus, REPORT_VERSION, RequestCount, RunReport, RunResult,
    StoreStatus,
};
pub use state::{BlobSize, HostState, ReportedContainer, ReportedImage};
pub use usage::{DiskUsage, ImageUsage, disk_usage};
