//! imagectl keeps container images on hosts and in registries the way a policy file says.
//!
//! ```text
//! policy ──▶ Desired ─┐
//! store ──▶ Inventory ┴─▶ plan (pure) ──▶ execute ──▶ store + registry ──▶ report
//! ```
//!
//! `oci` holds pure types; `image` is the one walker of an image's manifests over any
//! medium that implements its `ImageSource` (a registry repository, the store's content, an
//! archive being loaded); `registry` speaks the distribution API; `store` keeps images
//! (an OCI layout by default); `exec` runs effectful operations such as pulls; `archive`
//! reads and writes image archives; `report` computes disk usage; `cli` is the command line.
//!
//! Where an image's manifests are read: `image::ImageTree::read`/`below`, called by
//! `exec::pull` and `exec::copy` (registry), `archive/prepare.rs` (save, from the store),
//! `archive/oci_load.rs` (load, from the archive) and `store::Inventory` (a survey).
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
