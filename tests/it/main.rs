//! Integration tests: the built `imagectl` binary against a real registry
//! (`docker-registry`), with skopeo and umoci as independent readers and writers.
//!
//! Needs the Debian packages docker-registry, skopeo, umoci, apache2-utils, openssl,
//! docker.io, busybox-static and podman (`scripts/test.sh` installs them, `support::tools`
//! names a missing one); the archive and store tests start their own dockerd.

mod support;

mod apply;
mod archive;
mod archive_referrers;
mod bearer;
mod budget;
mod crash;
mod discovery;
mod docker_errors;
mod freed_bytes;
mod fsck_referrers;
mod kill_anywhere;

mod commands;
mod containerd;
mod copy;
mod cycles;
mod errors;
mod faults;
mod head_without_digest;
mod oras;
mod own_image;
mod policy;
mod pull;
mod purity;
mod push_races;
mod referrers_paging;
mod registries;
mod replicate;
mod replicate_budget;
mod replicate_ledger;
mod replicate_nested_referrers;
mod replicate_referrers;
mod review;
mod review_comment;
mod run;
mod save_platform_referrers;
mod save_registry_referrers;
mod secrets;
mod stores;
mod testbed;
