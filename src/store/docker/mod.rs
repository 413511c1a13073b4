//! A Docker Engine as an image store, through its API (classic and containerd image
//! stores alike). The Engine names, removes and collects its own images; imagectl reads
//! its lists, asks it to tag and delete, and brings images in as one streamed
//! `POST /images/load` of what imagectl's own registry client pulled.

mod connect;
mod inventory;
mod transfer;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bollard::Docker;
use bollard::query_parameters::{RemoveImageOptions, TagImageOptions};
use futures_util::StreamExt;

use connect::daemon_error;
pub use connect::default_host;

use super::image_store::{
    ArchiveCodec, Backend, ImageExport, ImageImport, ImageStore, RemoveEvent,
};
use super::state;
use super::{Inventory, InventoryImage, LockGuard, LockMode, StoreError};
use crate::oci::Reference;

/// An Engine reached over its socket.
pub struct DockerStore {
    docker: Docker,
    host: String,
    containerd_store: bool,
    state_dir: PathBuf,
    engine_pull: bool,
}

impl DockerStore {
    /// Connect, agree on an API version and learn which image store the Engine runs.
    pub async fn connect(host: &str, engine_pull: bool) -> Result<Self, StoreError> {
        let (docker, _api) = connect::connect(host).await?;
        let info = docker.info().await.map_err(daemon_error)?;
        let containerd_store = info.driver_status.iter().flatten().any(|kv| {
            kv.first().is_some_and(|k| k == "driver-type")
                && kv.get(1).is_some_and(|v| v.contains("snapshotter"))
        });
        let id = info
            .id
            .filter(|i| !i.is_empty())
            .or(info.name)
            .unwrap_or_else(|| host.to_string());
        Ok(Self {
            docker,
            host: host.to_string(),
            containerd_store,
            state_dir: state::dir_for("docker", &id)?,
            engine_pull,
        })
    }

    fn sources(&self) -> Result<state::Sources, StoreError> {
        Ok(state::Sources::parse(state::read(
            &self.state_dir,
            state::SOURCES,
        )?))
    }

    /// docker's short form of a name (`busybox:1`, `127.0.0.1:5000/app:1`).
    fn engine_name(name: &Reference) -> String {
        match (name.tag(), name.digest()) {
            (_, Some(d)) => format!("{}@{d}", name.familiar_name()),
            (Some(t), None) => format!("{}:{t}", name.familiar_name()),
            (None, None) => name.familiar_name(),
        }
    }

    async fn delete(&self, what: &str, force: bool) -> Result<Vec<RemoveEvent>, StoreError> {
        let items = self
            .docker
            .remove_image(
                what,
                Some(RemoveImageOptions {
                    force,
                    noprune: false,
                    ..Default::default()
                }),
                None,
            )
            .await
            .map_err(daemon_error)?;
        Ok(items
            .into_iter()
            .flat_map(|i| {
                i.untagged
                    .map(RemoveEvent::Untagged)
                    .into_iter()
                    .chain(i.deleted.map(RemoveEvent::Deleted))
            })
            .collect())
    }
}

#[async_trait]
impl ImageStore for DockerStore {
    fn location(&self) -> String {
        self.host.clone()
    }

    fn state_dir(&self) -> std::path::PathBuf {
        self.state_dir.clone()
    }

    fn backend(&self) -> Backend {
        Backend::Docker {
            containerd_store: self.containerd_store,
        }
    }

    async fn inventory(&self) -> Result<Inventory, StoreError> {
        inventory::load(&self.docker, &self.sources()?).await
    }

    async fn lock(&self, mode: LockMode) -> Result<LockGuard, StoreError> {
        state::lock(&self.state_dir, mode).await
    }

    async fn set_name(&self, name: &Reference, image: &InventoryImage) -> Result<(), StoreError> {
        let Some(tag) = name.tag() else {
            return Err(StoreError::Daemon(format!(
                "the Docker Engine cannot name an image {name}: it takes tags only"
            )));
        };
        self.docker
            .tag_image(
                &image.id.to_string(),
                Some(TagImageOptions {
                    repo: Some(name.familiar_name()),
                    tag: Some(tag.to_string()),
                }),
            )
            .await
            .map_err(daemon_error)
    }

    async fn remove_name(&self, name: &Reference) -> Result<(), StoreError> {
        self.delete(&Self::engine_name(name), false).await.map(drop)
    }

    async fn remove_image(
        &self,
        image: &InventoryImage,
        force: bool,
    ) -> Result<Vec<RemoveEvent>, StoreError> {
        if let Some(e) = image.removal_conflict(force) {
            return Err(e);
        }
        if image.names.is_empty() || force {
            return self.delete(&image.id.to_string(), force).await;
        }
        // Name by name, as `docker rmi` does: the last name takes the image with it.
        let mut events = Vec::new();
        for name in &image.names {
            events.extend(self.delete(&Self::engine_name(name), false).await?);
        }
        Ok(events)
    }

    async fn remove(&self, query: &str, force: bool) -> Result<Vec<RemoveEvent>, StoreError> {
        self.delete(query, force).await
    }

    async fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        state::read(&self.state_dir, name)
    }

    async fn write_state(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        state::write(&self.state_dir, name, bytes)
    }

    async fn import(
        &self,
        codec: Arc<dyn ArchiveCodec>,
    ) -> Result<Box<dyn ImageImport>, StoreError> {
        Ok(Box::new(transfer::Import::begin(
            self.docker.clone(),
            codec,
            self.state_dir.clone(),
        )?))
    }

    async fn export(
        &self,
        images: &[&InventoryImage],
        codec: Arc<dyn ArchiveCodec>,
    ) -> Result<Box<dyn ImageExport>, StoreError> {
        Ok(Box::new(
            transfer::Export::run(&self.docker, images, codec).await?,
        ))
    }

    fn pulls_natively(&self) -> bool {
        self.engine_pull
    }

    async fn pull_native(
        &self,
        reference: &Reference,
        platform: &str,
        credentials: Option<(String, String)>,
    ) -> Result<(), StoreError> {
        let tag = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        };
        let options = bollard::query_parameters::CreateImageOptions {
            from_image: Some(reference.familiar_name()),
            tag: Some(tag),
            platform: platform.to_string(),
            ..Default::default()
        };
        // Sent as X-Registry-Auth, which the request modifier re-encodes as base64url.
        let credentials =
            credentials.map(|(username, password)| bollard::auth::DockerCredentials {
                username: Some(username),
                password: Some(password),
                serveraddress: Some(reference.registry().to_string()),
                ..Default::default()
            });
        let mut progress = self.docker.create_image(Some(options), None, credentials);
        // Errors come as HTTP 500 before the stream or as errorDetail inside it; bollard
        // turns both into errors of the stream.
        while let Some(item) = progress.next().await {
            item.map_err(|e| match daemon_error(e) {
                StoreError::NoSuchImage(m) => {
                    StoreError::Daemon(format!("the Docker Engine could not pull {reference}: {m}"))
                }
                StoreError::Daemon(m) => {
                    StoreError::Daemon(format!("pulling {reference} with the Docker Engine: {m}"))
                }
                other => other,
            })?;
        }
        Ok(())
    }

    async fn document(
        &self,
        image: &InventoryImage,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let doc = self
            .docker
            .inspect_image(&image.id.to_string())
            .await
            .map_err(daemon_error)?;
        Ok(Some(serde_json::to_value(doc).map_err(|e| {
            StoreError::Daemon(format!("the Engine's inspect document: {e}"))
        })?))
    }

    async fn history(
        &self,
        image: &InventoryImage,
    ) -> Result<Option<Vec<serde_json::Value>>, StoreError> {
        let rows = self
            .docker
            .image_history(&image.id.to_string())
            .await
            .map_err(daemon_error)?;
        Ok(Some(
            rows.into_iter()
                .filter_map(|r| serde_json::to_value(r).ok())
                .collect(),
        ))
    }
}
