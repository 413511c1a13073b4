//! Unpacking an image's layers into a snapshotter, as containerd's own unpacker and CRI
//! do: one committed snapshot per layer, named by the chain ID of the layers up to it, so
//! that a container (and the kubelet's CRI) finds the image's root filesystem ready.

use std::collections::HashMap;

use containerd_client::services::v1::ApplyRequest;
use containerd_client::services::v1::diff_client::DiffClient;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, ListSnapshotsRequest, PrepareSnapshotRequest, RemoveSnapshotRequest,
    StatSnapshotRequest, UsageRequest,
};
use containerd_client::tonic::Code;
use containerd_client::types::Descriptor as CtdDescriptor;
use futures_util::{StreamExt, stream};

use super::client::Conn;
use crate::oci::{Descriptor, Digest};
use crate::store::StoreError;

/// The chain IDs of `diff_ids` (OCI image spec: `ChainID(L0) = DiffID(L0)`,
/// `ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`).
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Apply `layers` (with their `diff_ids`) into `snapshotter` under `lease`, skipping the
/// chain already there. Returns the top chain ID.
pub async fn unpack(
    conn: &Conn,
    lease: &str,
    snapshotter: &str,
    layers: &[Descriptor],
    diff_ids: &[Digest],
) -> Result<Option<Digest>, StoreError> {
    let chains = chain_ids(diff_ids);
    let mut snapshots = SnapshotsClient::new(conn.channel.clone());
    let mut diff = DiffClient::new(conn.channel.clone());
    let mut parent = String::new();
    for (i, (layer, chain)) in layers.iter().zip(&chains).enumerate() {
        let exists = snapshots
            .stat(conn.req(StatSnapshotRequest {
                snapshotter: snapshotter.to_string(),
                key: chain.to_string(),
            }))
            .await;
        match exists {
            Ok(_) => {
                parent = chain.to_string();
                continue;
            }
            Err(s) if s.code() == Code::NotFound => {}
            Err(s) => return Err(conn.error("checking a snapshot", s)),
        }
        let key = format!(
            "extract-{}-{}-{i} {chain}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        );
        let mounts = snapshots
            .prepare(conn.leased(
                PrepareSnapshotRequest {
                    snapshotter: snapshotter.to_string(),
                    key: key.clone(),
                    parent: parent.clone(),
                    labels: HashMap::new(),
                },
                lease,
            ))
            .await
            .map_err(|s| conn.error(&format!("preparing a snapshot for layer {i}"), s))?
            .into_inner()
            .mounts;
        let applied = diff
            .apply(conn.leased(
                ApplyRequest {
                    diff: Some(CtdDescriptor {
                        media_type: layer.media_type.clone(),
                        digest: layer.digest.to_string(),
                        size: layer.size as i64,
                        annotations: HashMap::new(),
                    }),
                    mounts,
                    payloads: HashMap::new(),
                    sync_fs: false,
                },
                lease,
            ))
            .await;
        let applied = match applied {
            Ok(r) => r.into_inner().applied,
            Err(s) => {
                remove(conn, &mut snapshots, snapshotter, &key).await;
                return Err(conn.error(&format!("unpacking layer {}", layer.digest), s));
            }
        };
        if applied.as_ref().map(|d| d.digest.as_str()) != Some(diff_ids[i].to_string().as_str()) {
            remove(conn, &mut snapshots, snapshotter, &key).await;
            return Err(StoreError::Daemon(format!(
                "containerd unpacked layer {} to {}, but the config's rootfs.diff_ids says {}",
                layer.digest,
                applied.map(|d| d.digest).unwrap_or_default(),
                diff_ids[i]
            )));
        }
        let committed = snapshots
            .commit(conn.leased(
                CommitSnapshotRequest {
                    snapshotter: snapshotter.to_string(),
                    name: chain.to_string(),
                    key: key.clone(),
                    labels: HashMap::new(),
                },
                lease,
            ))
            .await;
        match committed {
            Ok(_) => {}
            // Another unpack of the same layers won the race: use its snapshot.
            Err(s) if s.code() == Code::AlreadyExists => {
                remove(conn, &mut snapshots, snapshotter, &key).await
            }
            Err(s) => {
                remove(conn, &mut snapshots, snapshotter, &key).await;
                return Err(conn.error("committing a snapshot", s));
            }
        }
        parent = chain.to_string();
    }
    Ok(chains.last().cloned())
}

/// Bytes every snapshot of `snapshotter` in the namespace takes on disk (unpacked layers and
/// containers' writable layers), as containerd measures them now; CRI's `ImageFsInfo` is
/// the same figure refreshed only every few seconds.
pub async fn snapshots_used(conn: &Conn, snapshotter: &str) -> Result<u64, StoreError> {
    let mut snapshots = SnapshotsClient::new(conn.channel.clone());
    let mut listing = snapshots
        .list(conn.req(ListSnapshotsRequest {
            snapshotter: snapshotter.to_string(),
            filters: vec![],
        }))
        .await
        .map_err(|s| conn.error("listing snapshots", s))?
        .into_inner();
    let mut keys = Vec::new();
    while let Some(page) = listing
        .message()
        .await
        .map_err(|s| conn.error("listing snapshots", s))?
    {
        keys.extend(page.info.into_iter().map(|i| i.name));
    }
    let sizes: Vec<u64> = stream::iter(keys)
        .map(|key| {
            let mut client = snapshots.clone();
            async move {
                client
                    .usage(conn.req(UsageRequest {
                        snapshotter: snapshotter.to_string(),
                        key,
                    }))
                    .await
                    .map(|r| r.into_inner().size.max(0) as u64)
                    // A snapshot removed since the listing takes nothing.
                    .unwrap_or(0)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    Ok(sizes.into_iter().sum())
}

async fn remove(
    conn: &Conn,
    snapshots: &mut SnapshotsClient<containerd_client::tonic::transport::Channel>,
    snapshotter: &str,
    key: &str,
) {
    let _ = snapshots
        .remove(conn.req(RemoveSnapshotRequest {
            snapshotter: snapshotter.to_string(),
            key: key.to_string(),
        }))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chain IDs as the OCI image spec defines them (its example's first two layers).
    #[test]
    fn chain_ids_follow_the_spec() {
        let a: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let b: Digest = format!("sha256:{}", "b".repeat(64)).parse().unwrap();
        let chains = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chains[0], a);
        assert_eq!(chains[1], Digest::of(format!("{a} {b}").as_bytes()));
    }
}
