//! Reports computed from the inventory: disk usage (`df`).

mod usage;

pub use usage::{DiskUsage, ImageUsage, disk_usage};
