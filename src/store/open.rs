//! Which store to use, spelled one way on the command line and in `IMAGECTL_STORE`, and
//! the one place that opens a backend from that spelling.

use std::path::PathBuf;
use std::sync::Arc;

use super::docker::{DockerStore, default_host};
use super::embedded::EmbeddedStore;
use super::layout::LayoutStore;
use super::{ImageStore, StoreError};

/// A store to open: an embedded layout directory or a Docker Engine.
///
/// On the command line (`--store`) `docker` means the Engine at `$DOCKER_HOST` (else
/// `unix:///var/run/docker.sock`, as the docker CLI), `docker:unix:///PATH` or
/// `docker:tcp://HOST:PORT` a given one; anything else is a directory (write
/// `./docker` for a directory of that name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// The embedded store in this directory.
    Embedded(PathBuf),
    /// A Docker Engine (`None`: `$DOCKER_HOST` or the default socket), and whether it
    /// pulls images itself rather than imagectl's client.
    Docker(Option<String>, PullPath),
}

/// Who pulls images into a Docker Engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PullPath {
    /// imagectl's registry client (mirrors for every registry, resume, verification,
    /// one HEAD per unchanged tag), streamed into `POST /images/load`.
    #[default]
    Imagectl,
    /// The Engine's own `POST /images/create`, with imagectl's credentials.
    Engine,
}

impl StoreSpec {
    /// Read the `--store` spelling.
    pub fn parse(s: &str) -> Self {
        match s {
            "docker" => Self::Docker(None, PullPath::default()),
            _ => match s.strip_prefix("docker:") {
                Some(host) if !host.is_empty() => {
                    Self::Docker(Some(host.to_string()), PullPath::default())
                }
                _ => Self::Embedded(PathBuf::from(s)),
            },
        }
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
            StoreSpec::parse("./docker"),
            StoreSpec::Embedded(PathBuf::from("./docker"))
        );
        assert_eq!(
            StoreSpec::parse("/var/lib/imagectl"),
            StoreSpec::Embedded(PathBuf::from("/var/lib/imagectl"))
        );
    }
}
