//! Integration tests: the built `imagectl` binary against a real registry
//! (`docker-registry`), with skopeo and umoci as independent readers and writers.
//!
//! Needs the Debian packages docker-registry, skopeo, umoci and apache2-utils
//! (`.ci/run` installs them).

mod support;

mod apply;
mod archive;
mod crash;

mod commands;
mod errors;
mod policy;
mod pull;
mod purity;
mod testbed;
