//! The CRI services containerd hosts on the same socket: what the kubelet sees and does.
//! imagectl asks CRI which images are pinned (the sandbox image), pulls through it when
//! told to take the kubelet's own path, and reads the image filesystem's usage. CRI always
//! works in the `k8s.io` namespace; where it is off or absent these calls say so and the
//! caller does without.

use std::collections::BTreeSet;

use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{AuthConfig, ImageSpec, ListImagesRequest, PullImageRequest, StatusRequest};

use super::client::Conn;
use crate::oci::Reference;
use crate::store::StoreError;

/// What CRI says it must keep: image IDs it lists as pinned, and the sandbox image's name
/// from its configuration (containerd 1.6 marks nothing pinned).
#[derive(Debug, Default)]
pub struct Pins {
    /// `sha256:<config>` IDs.
    pub ids: BTreeSet<String>,
    /// Names (`registry.k8s.io/pause:3.10`), as configured.
    pub names: BTreeSet<String>,
}

/// CRI's pins, or `None` when CRI does not answer on this socket.
pub async fn pins(conn: &Conn) -> Option<Pins> {
    let mut images = ImageServiceClient::new(conn.channel.clone());
    let listed = images
        .list_images(ListImagesRequest { filter: None })
        .await
        .ok()?
        .into_inner();
    let mut pins = Pins::default();
    for i in listed.images {
        if i.pinned {
            pins.ids.insert(i.id);
        }
    }
    let status = RuntimeServiceClient::new(conn.channel.clone())
        .status(StatusRequest { verbose: true })
        .await
        .ok()
        .map(|r| r.into_inner().info);
    if let Some(info) = status
        && let Some(config) = info.get("config")
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(config)
    {
        // 1.6/1.7: "sandboxImage"; 2.x: "pinnedImages": {"sandbox": …}.
        for p in ["/sandboxImage", "/pinnedImages/sandbox"] {
            if let Some(name) = v.pointer(p).and_then(|n| n.as_str())
                && let Ok(r) = Reference::parse(name)
            {
                pins.names.insert(r.to_string());
            }
        }
    }
    Some(pins)
}

/// The kubelet's pull: CRI `PullImage`, with credentials imagectl resolved.
pub async fn pull(
    conn: &Conn,
    reference: &Reference,
    credentials: Option<(String, String)>,
) -> Result<String, StoreError> {
    let auth = credentials.map(|(username, password)| AuthConfig {
        username,
        password,
        server_address: reference.registry().to_string(),
        ..Default::default()
    });
    let reply = ImageServiceClient::new(conn.channel.clone())
        .pull_image(PullImageRequest {
            image: Some(ImageSpec {
                image: reference.to_string(),
                ..Default::default()
            }),
            auth,
            sandbox_config: None,
        })
        .await
        .map_err(|s| match s.code() {
            containerd_client::tonic::Code::Unimplemented => StoreError::Daemon(format!(
                "containerd at {} serves no CRI image service: enable its CRI plugin, or pull with imagectl's own client (drop `pull: cri`)",
                conn.address
            )),
            _ => StoreError::Daemon(format!(
                "CRI could not pull {reference}: {} (CRI reads registry settings from containerd's hosts.toml, not imagectl's config)",
                s.message()
            )),
        })?;
    Ok(reply.into_inner().image_ref)
}
