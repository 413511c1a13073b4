//! imagectl keeps container images on hosts and in registries the way a policy file says.
//!
//! ```text
//! policy ──▶ Desired ─┐
//! store ──▶ Inventory ┴─▶ plan (pure) ──▶ execute ──▶ store + registry ──▶ report
//! ```
//!
//! `oci` holds pure types; `registry` speaks the distribution API; `store` keeps images
//! (an OCI layout by default); `exec` runs effectful operations such as pulls; `report`
//! computes disk usage; `cli` is the command line.
#![deny(missing_docs)]

pub mod archive;
pub mod cli;
pub mod exec;
pub mod image;
pub mod oci;
pub mod plan;
pub mod policy;
pub mod registry;
pub mod report;
pub mod review;
pub mod schedule;
pub mod store;
