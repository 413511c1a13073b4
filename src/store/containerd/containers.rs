//! Which images containers use: every container of the namespace (CRI's pods and
//! sandboxes in `k8s.io`, and anything `ctr` or nerdctl made), running or not, and the
//! tasks that run. A container names its image by a record name (CRI: the name it pulled,
//! or the `sha256:<config>` ID record).

use std::collections::HashMap;

use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::{ListContainersRequest, ListTasksRequest};
use containerd_client::types::v1::Status;
use jiff::Timestamp;

use super::client::Conn;
use crate::store::{ContainerUse, StoreError};

/// The containers of the namespace by the image record name they were made from.
pub async fn by_image(conn: &Conn) -> Result<HashMap<String, Vec<ContainerUse>>, StoreError> {
    let containers = ContainersClient::new(conn.channel.clone())
        .list(conn.req(ListContainersRequest { filters: vec![] }))
        .await
        .map_err(|s| conn.error("listing containers", s))?
        .into_inner()
        .containers;
    let tasks = TasksClient::new(conn.channel.clone())
        .list(conn.req(ListTasksRequest {
            filter: String::new(),
        }))
        .await
        .map_err(|s| conn.error("listing tasks", s))?
        .into_inner()
        .tasks;
    let running: HashMap<&str, bool> = tasks
        .iter()
        .map(|t| {
            let up = matches!(
                Status::try_from(t.status),
                Ok(Status::Running | Status::Paused | Status::Pausing)
            );
            (t.container_id.as_str(), up)
        })
        .collect();
    let mut out: HashMap<String, Vec<ContainerUse>> = HashMap::new();
    for c in &containers {
        if c.image.is_empty() {
            continue;
        }
        let label = |k: &str| c.labels.get(k).map(String::as_str).unwrap_or("");
        // The pod's namespace/name/container as kubectl shows it, where CRI made it.
        let name = match (
            label("io.kubernetes.pod.namespace"),
            label("io.kubernetes.pod.name"),
            label("io.kubernetes.container.name"),
        ) {
            ("", "", "") => c.id.clone(),
            (ns, pod, "") => format!("{ns}/{pod} (sandbox)"),
            (ns, pod, ctr) => format!("{ns}/{pod}/{ctr}"),
        };
        let up = running.get(c.id.as_str()).copied().unwrap_or(false);
        let created = c
            .created_at
            .as_ref()
            .and_then(|t| Timestamp::new(t.seconds, t.nanos).ok());
        out.entry(c.image.clone()).or_default().push(ContainerUse {
            id: c.id.chars().take(12).collect(),
            name,
            running: up,
            last_used: if up { Some(Timestamp::now()) } else { created },
        });
    }
    Ok(out)
}
