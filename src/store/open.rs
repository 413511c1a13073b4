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
    /// A Docker Engine; `None`: `$DOCKER_HOST` or the default socket.
    Docker(Option<String>),
}

impl StoreSpec {
    /// Read the `--store` spelling.
    pub fn parse(s: &str) -> Self {
        match s {
            "docker" => Self::Docker(None),
            _ => match s.strip_prefix("docker:") {
                Some(host) if !host.is_empty() => Self::Docker(Some(host.to_string())),
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
        StoreSpec::Docker(host) => {
            let host = host.clone().unwrap_or_else(default_host);
            Ok(Arc::new(DockerStore::connect(&host).await?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docker`, `docker:HOST` and directories are told apart as documented.
    #[test]
    fn spellings() {
        assert_eq!(StoreSpec::parse("docker"), StoreSpec::Docker(None));
        assert_eq!(
            StoreSpec::parse("docker:unix:///run/d.sock"),
            StoreSpec::Docker(Some("unix:///run/d.sock".into()))
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
