//! Which store to use, spelled one way on the command line and in `IMAGECTL_STORE`, and
//! the one place that opens a backend from that spelling.

use std::path::PathBuf;
use std::sync::Arc;

use super::containerd::{
    ContainerdOptions, ContainerdStore, DEFAULT_SNAPSHOTTER, KUBELET_MIN_AGE, default_address,
    default_namespace,
};
use super::docker::{DockerStore, default_host};
use super::embedded::EmbeddedStore;
use super::layout::LayoutStore;
use super::{ImageStore, StoreError};

/// A store to open: an embedded layout directory or a Docker Engine.
///
/// On the command line (`--store`) `docker` means the Engine at `$DOCKER_HOST` (else
/// `unix:///var/run/docker.sock`, as the docker CLI), `docker:unix:///PATH` or
/// `docker:tcp://HOST:PORT` a given one; `containerd` means the containerd at
/// `$CONTAINERD_ADDRESS` (else `/run/containerd/containerd.sock`, as `ctr`), in namespace
/// `$CONTAINERD_NAMESPACE` (else `k8s.io`, the kubelet's), `containerd:PATH` a given socket;
/// anything else is a directory (write `./docker` for a directory of that name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// The embedded store in this directory.
    Embedded(PathBuf),
    /// A Docker Engine (`None`: `$DOCKER_HOST` or the default socket), and whether it
    /// pulls images itself rather than imagectl's client.
    Docker(Option<String>, PullPath),
    /// containerd.
    Containerd(ContainerdSpec),
}

/// A containerd to open; `None` fields take the defaults (environment, then built-in).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerdSpec {
    /// The socket path.
    pub address: Option<String>,
    /// The namespace.
    pub namespace: Option<String>,
    /// Who pulls.
    pub pull: PullPath,
    /// Images younger than this are never removed (default: the kubelet's 2 minutes).
    pub min_age: Option<std::time::Duration>,
}

/// Who pulls images into a Docker Engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PullPath {
    /// imagectl's registry client (mirrors for every registry, resume, verification,
    /// one HEAD per unchanged tag), streamed into `POST /images/load`.
    #[default]
    Imagectl,
    /// The daemon's own pull (the Engine's `POST /images/create`, CRI `PullImage`), with
    /// imagectl's credentials.
    Engine,
}

impl StoreSpec {
    /// Read the `--store` spelling.
    pub fn parse(s: &str) -> Self {
        if s == "docker" {
            return Self::Docker(None, PullPath::default());
        }
        if s == "containerd" {
            return Self::Containerd(ContainerdSpec::default());
        }
        if let Some(host) = s.strip_prefix("docker:").filter(|h| !h.is_empty()) {
            return Self::Docker(Some(host.to_string()), PullPath::default());
        }
        if let Some(path) = s.strip_prefix("containerd:").filter(|p| !p.is_empty()) {
            return Self::Containerd(ContainerdSpec {
                address: Some(path.to_string()),
                ..Default::default()
            });
        }
        Self::Embedded(PathBuf::from(s))
    }
}

/// Open the store `spec` names. A daemon is asked for its version (and refused when too
/// old) here, so every command fails the same way when it cannot be reached.
pub async fn open(spec: &StoreSpec) -> Result<Arc<dyn ImageStore>, StoreError> {
    match spec {
        StoreSpec::Embedded(path) => Ok(Arc::new(EmbeddedStore::new(LayoutStore::open(
            path.clone(),
        )?))),
        StoreSpec::Docker(host, pull) => {
            let host = host.clone().unwrap_or_else(default_host);
            Ok(Arc::new(
                DockerStore::connect(&host, *pull == PullPath::Engine).await?,
            ))
        }
        StoreSpec::Containerd(c) => Ok(Arc::new(
            ContainerdStore::connect(ContainerdOptions {
                address: c.address.clone().unwrap_or_else(default_address),
                namespace: c.namespace.clone().unwrap_or_else(default_namespace),
                cri_pull: c.pull == PullPath::Engine,
                min_age: c.min_age.map_or_else(min_age_from_env, Ok)?,
                snapshotter: DEFAULT_SNAPSHOTTER.to_string(),
            })
            .await?,
        )),
    }
}

/// `$IMAGECTL_CONTAINERD_MIN_AGE` (`30s`, `5m`, `0s`), else the kubelet's default.
fn min_age_from_env() -> Result<std::time::Duration, StoreError> {
    match std::env::var("IMAGECTL_CONTAINERD_MIN_AGE") {
        Ok(v) if !v.trim().is_empty() => {
            let span: jiff::Span = v.trim().parse().map_err(|e| {
                StoreError::Daemon(format!(
                    "IMAGECTL_CONTAINERD_MIN_AGE={v:?} is not a duration ({e}): write e.g. 2m, 30s or 0s"
                ))
            })?;
            let d = jiff::SignedDuration::try_from(span)
                .ok()
                .and_then(|d| d.try_into().ok())
                .ok_or_else(|| {
                    StoreError::Daemon(format!(
                        "IMAGECTL_CONTAINERD_MIN_AGE={v:?} must be a non-negative time of hours, minutes or seconds"
                    ))
                })?;
            Ok(d)
        }
        _ => Ok(KUBELET_MIN_AGE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docker`, `docker:HOST` and directories are told apart as documented.
    #[test]
    fn spellings() {
        assert_eq!(
            StoreSpec::parse("docker"),
            StoreSpec::Docker(None, PullPath::Imagectl)
        );
        assert_eq!(
            StoreSpec::parse("docker:unix:///run/d.sock"),
            StoreSpec::Docker(Some("unix:///run/d.sock".into()), PullPath::Imagectl)
        );
        assert_eq!(
            StoreSpec::parse("containerd"),
            StoreSpec::Containerd(ContainerdSpec::default())
        );
        assert_eq!(
            StoreSpec::parse("containerd:/run/k3s/containerd/containerd.sock"),
            StoreSpec::Containerd(ContainerdSpec {
                address: Some("/run/k3s/containerd/containerd.sock".into()),
                ..Default::default()
            })
        );
        assert_eq!(
            StoreSpec::parse("./docker"),
            StoreSpec::Embedded(PathBuf::from("./docker"))
        );
        assert_eq!(
            StoreSpec::parse("/var/lib/imagectl"),
            StoreSpec::Embedded(PathBuf::from("/var/lib/imagectl"))
        );
    }
}
