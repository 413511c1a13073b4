//! Integration tests: the built `imagectl` binary against a real registry
//! (`docker-registry`), with skopeo and umoci as independent readers and writers.
//!
//! Needs the Debian packages docker-registry, skopeo, umoci, apache2-utils, openssl,
//! docker.io and busybox-static (`.ci/run` installs them); the archive tests start their
//! own dockerd.

mod support;

mod apply;
mod archive;
mod bearer;
mod budget;
mod crash;
mod discovery;
mod docker_errors;

mod commands;
mod copy;
mod errors;
mod faults;
mod policy;
mod pull;
mod purity;
mod registries;
mod replicate;
mod secrets;
mod stores;
mod testbed;
