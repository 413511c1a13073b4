//! Images from a staging layout into containerd, written the way CRI writes a pull, so the
//! kubelet cannot tell them apart: under a lease, children before parents, the garbage
//! collector's reference labels on manifests and indexes, every layer unpacked into the
//! CRI snapshotter, then the records CRI makes (the fully qualified name, `repo@digest`,
//! and the `sha256:<config>` ID record), each labelled `io.cri-containerd.image=managed`.
//!
//! Nothing is named before all of an image's content and snapshots are in; a failure
//! leaves only unreferenced content behind, which the lease's expiry hands to the garbage
//! collector.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;

use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::leases_client::LeasesClient;
use containerd_client::services::v1::{
    CreateImageRequest, CreateRequest, DeleteRequest, Image, Info, UpdateImageRequest,
    UpdateRequest, WriteAction, WriteContentRequest,
};
use containerd_client::tonic::Code;
use containerd_client::types::Descriptor as CtdDescriptor;
use tokio::sync::mpsc;

use super::client::Conn;
use super::unpack::unpack;
use crate::image::{ImageTree, Node, WalkError, local};
use crate::oci::{Descriptor, Digest, Manifest, Platform};
use crate::store::{Content, InventoryImage, MAX_METADATA_BLOB, Store, StoreError};

/// The label CRI puts on every image record it makes.
pub const CRI_MANAGED: (&str, &str) = ("io.cri-containerd.image", "managed");
/// imagectl's mark on a `repo@digest` record that is a name someone asked for (a pinned
/// digest), not just the registry digest CRI records beside a tag: a tag that moves leaves
/// its old image with such a record, and that image is dangling.
pub const DIGEST_NAME: (&str, &str) = ("imagectl.digest-name", "true");
/// Bytes per write message.
const CHUNK: usize = 256 << 10;

/// A lease for one import: content and snapshots written under it survive until the
/// records refer to them; if imagectl dies first, the lease expires and the garbage
/// collector takes what it held.
pub struct Lease {
    pub id: String,
}

impl Lease {
    pub async fn create(conn: &Conn) -> Result<Self, StoreError> {
        let id = format!(
            "imagectl-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        );
        let expire = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
        let labels = HashMap::from([("containerd.io/gc.expire".to_string(), expire.to_string())]);
        LeasesClient::new(conn.channel.clone())
            .create(conn.req(CreateRequest {
                id: id.clone(),
                labels,
            }))
            .await
            .map_err(|s| conn.error("creating a lease", s))?;
        Ok(Self { id })
    }

    pub async fn release(self, conn: &Conn) -> Result<(), StoreError> {
        LeasesClient::new(conn.channel.clone())
            .delete(conn.req(DeleteRequest {
                id: self.id,
                sync: false,
            }))
            .await
            .map_err(|s| conn.error("releasing a lease", s))?;
        Ok(())
    }
}

/// What `ingest` needs to know of the target store.
pub struct Target<'a> {
    pub conn: &'a Conn,
    pub snapshotter: &'a str,
    /// Blobs containerd already has (digest → size).
    pub present: &'a HashMap<Digest, u64>,
    pub lease: &'a Lease,
}

/// Write `image` (as staged in `source`) into containerd and name it; returns the ID
/// record's digest (the config of the platform unpacked).
pub async fn ingest(
    t: &Target<'_>,
    source: &Arc<dyn Store>,
    image: &InventoryImage,
) -> Result<(), StoreError> {
    let top = write_tree(t, source, &image.target).await?;
    let target = ctd_descriptor(&image.target);
    let id = top.unwrap_or_else(|| image.id.clone());
    let mut records: Vec<(String, bool)> = Vec::new();
    for name in &image.names {
        records.push((name.to_string(), name.tag().is_none()));
        let digest = image
            .sources
            .get(name)
            .cloned()
            .unwrap_or_else(|| image.target.digest.clone());
        records.push((format!("{}@{digest}", name.name()), name.tag().is_none()));
    }
    records.push((id.to_string(), false));
    records.dedup();
    for (name, pinned) in records {
        put_record(t.conn, &name, &target, pinned).await?;
    }
    Ok(())
}

/// Point the record `name` at `target`, creating it or moving it; `digest_name` marks a
/// `repo@digest` record as a name asked for.
pub async fn put_record(
    conn: &Conn,
    name: &str,
    target: &CtdDescriptor,
    digest_name: bool,
) -> Result<(), StoreError> {
    let mut labels = HashMap::from([(CRI_MANAGED.0.to_string(), CRI_MANAGED.1.to_string())]);
    if digest_name {
        labels.insert(DIGEST_NAME.0.to_string(), DIGEST_NAME.1.to_string());
    }
    let mut paths = vec!["target".to_string()];
    paths.extend(labels.keys().map(|k| format!("labels.{k}")));
    let image = Image {
        name: name.to_string(),
        labels,
        target: Some(target.clone()),
        created_at: None,
        updated_at: None,
    };
    let mut images = ImagesClient::new(conn.channel.clone());
    let created = images
        .create(conn.req(CreateImageRequest {
            image: Some(image.clone()),
            source_date_epoch: None,
        }))
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(s) if s.code() == Code::AlreadyExists => images
            .update(conn.req(UpdateImageRequest {
                image: Some(image),
                update_mask: Some(prost_types::FieldMask { paths }),
                source_date_epoch: None,
            }))
            .await
            .map(drop)
            .map_err(|s| conn.error(&format!("naming {name}"), s)),
        Err(s) => Err(conn.error(&format!("naming {name}"), s)),
    }
}

/// containerd's form of a descriptor.
pub fn ctd_descriptor(d: &Descriptor) -> CtdDescriptor {
    CtdDescriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.to_string(),
        size: d.size as i64,
        annotations: HashMap::new(),
    }
}

/// Write the manifest or index `desc` and everything under it (children first), unpacking
/// each platform's layers; returns the config digest of the host's platform (or the only
/// one), for the ID record.
async fn write_tree(
    t: &Target<'_>,
    source: &Arc<dyn Store>,
    desc: &Descriptor,
) -> Result<Option<Digest>, StoreError> {
    let tree = staged_tree(source, desc).await?;
    let nodes: Vec<&Node> = std::iter::once(&tree.top).chain(&tree.children).collect();
    let present: HashSet<&Digest> = nodes.iter().map(|n| &n.desc.digest).collect();
    // Walked parents first: written in reverse, every manifest goes before its index.
    let mut ids: HashMap<Digest, Option<Digest>> = HashMap::new();
    for node in nodes.iter().rev() {
        let id = match &node.manifest {
            Manifest::Index { manifests, .. } => {
                let mut labels = BTreeMap::new();
                let mut id = None;
                let host = Platform::host();
                for (i, child) in manifests.iter().enumerate() {
                    // Only the platforms staged (one, unless --all-platforms) are written.
                    if !present.contains(&child.digest) {
                        continue;
                    }
                    let cfg = ids.get(&child.digest).cloned().flatten();
                    if id.is_none() || child.platform.as_ref().is_some_and(|p| p.matches(&host)) {
                        id = cfg;
                    }
                    labels.insert(
                        format!("containerd.io/gc.ref.content.m.{i}"),
                        child.digest.to_string(),
                    );
                }
                write_blob(t, source, &node.desc, labels).await?;
                id
            }
            Manifest::Image { config, layers, .. } => {
                write_image(t, source, &node.desc, config, layers).await?;
                Some(config.digest.clone())
            }
        };
        ids.insert(node.desc.digest.clone(), id);
    }
    Ok(ids.remove(&tree.top.desc.digest).flatten())
}

/// The staged image under `desc`, read through the walker: entries of an index that were
/// not staged are left out, anything else missing or unreadable is an error.
async fn staged_tree(source: &Arc<dyn Store>, desc: &Descriptor) -> Result<ImageTree, StoreError> {
    let source = source.clone();
    let desc = desc.clone();
    tokio::task::spawn_blocking(move || {
        let mut skipped = Vec::new();
        let tree = local(ImageTree::survey(&Content(&*source), &desc, &mut skipped))?;
        for e in skipped {
            match e {
                WalkError::Read {
                    error: StoreError::MissingBlob(_),
                    named_by: Some(_),
                    ..
                } => {}
                WalkError::Read { error, .. } => return Err(error),
                WalkError::Manifest { desc, source, .. } => {
                    return Err(StoreError::Manifest {
                        digest: desc.digest,
                        source,
                    });
                }
                other => {
                    return Err(StoreError::Damaged {
                        what: format!("manifest {}", desc.digest),
                        reason: other.to_string(),
                    });
                }
            }
        }
        tree.ok_or(StoreError::MissingBlob(desc.digest.clone()))
    })
    .await
    .expect("read task panicked")
}

/// Write one image manifest: its layers (unpacked into the snapshotter), its config and
/// the manifest, each labelled for containerd's garbage collector.
async fn write_image(
    t: &Target<'_>,
    source: &Arc<dyn Store>,
    desc: &Descriptor,
    config: &Descriptor,
    layers: &[Descriptor],
) -> Result<(), StoreError> {
    let cfg_bytes = read_small(source, &config.digest).await?;
    let diff_ids = diff_ids(&cfg_bytes).ok_or_else(|| StoreError::Damaged {
        what: format!("config {}", config.digest),
        reason: "it has no rootfs.diff_ids".into(),
    })?;
    if diff_ids.len() != layers.len() {
        return Err(StoreError::Damaged {
            what: format!("config {}", config.digest),
            reason: format!(
                "rootfs.diff_ids lists {} layers, the manifest {}",
                diff_ids.len(),
                layers.len()
            ),
        });
    }
    let mut labels = BTreeMap::new();
    labels.insert(
        "containerd.io/gc.ref.content.config".to_string(),
        config.digest.to_string(),
    );
    for (i, (layer, diff_id)) in layers.iter().zip(&diff_ids).enumerate() {
        let mut l = BTreeMap::new();
        l.insert(
            "containerd.io/uncompressed".to_string(),
            diff_id.to_string(),
        );
        write_blob(t, source, layer, l).await?;
        labels.insert(
            format!("containerd.io/gc.ref.content.l.{i}"),
            layer.digest.to_string(),
        );
    }
    let top = unpack(t.conn, &t.lease.id, t.snapshotter, layers, &diff_ids).await?;
    let mut cfg_labels = BTreeMap::new();
    if let Some(top) = top {
        cfg_labels.insert(
            format!("containerd.io/gc.ref.snapshot.{}", t.snapshotter),
            top.to_string(),
        );
    }
    write_blob(t, source, config, cfg_labels).await?;
    write_blob(t, source, desc, labels).await
}

fn diff_ids(config: &[u8]) -> Option<Vec<Digest>> {
    let v: serde_json::Value = serde_json::from_slice(config).ok()?;
    v.pointer("/rootfs/diff_ids")?
        .as_array()?
        .iter()
        .map(|d| d.as_str()?.parse().ok())
        .collect()
}

async fn read_small(source: &Arc<dyn Store>, digest: &Digest) -> Result<Vec<u8>, StoreError> {
    let source = source.clone();
    let digest = digest.clone();
    tokio::task::spawn_blocking(move || source.read_blob(&digest, MAX_METADATA_BLOB))
        .await
        .expect("read task panicked")
}

/// Write one blob with `labels` (or, when containerd has it, set the labels on it).
async fn write_blob(
    t: &Target<'_>,
    source: &Arc<dyn Store>,
    desc: &Descriptor,
    labels: BTreeMap<String, String>,
) -> Result<(), StoreError> {
    let conn = t.conn;
    let labels: HashMap<String, String> = labels.into_iter().collect();
    if t.present.contains_key(&desc.digest) {
        return set_labels(conn, &desc.digest, labels).await;
    }
    let (tx, rx) = mpsc::channel::<WriteContentRequest>(2);
    let reader = {
        let source = source.clone();
        let digest = desc.digest.clone();
        let size = desc.size as i64;
        let labels = labels.clone();
        let r#ref = format!(
            "imagectl-{}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond(),
            desc.digest.hex()
        );
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            let mut input = source.open_blob(&digest)?;
            let mut offset = 0i64;
            loop {
                let mut buf = vec![0u8; CHUNK];
                let n = input
                    .read(&mut buf)
                    .map_err(|e| StoreError::io("reading", digest.to_string(), e))?;
                if n == 0 {
                    break;
                }
                buf.truncate(n);
                let msg = WriteContentRequest {
                    action: WriteAction::Write as i32,
                    r#ref: r#ref.clone(),
                    total: size,
                    expected: digest.to_string(),
                    offset,
                    data: buf,
                    labels: HashMap::new(),
                };
                offset += n as i64;
                if tx.blocking_send(msg).is_err() {
                    return Ok(()); // containerd ended the stream: its status says why.
                }
            }
            let _ = tx.blocking_send(WriteContentRequest {
                action: WriteAction::Commit as i32,
                r#ref,
                total: size,
                expected: digest.to_string(),
                offset,
                data: Vec::new(),
                labels,
            });
            Ok(())
        })
    };
    let requests =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    let mut content = ContentClient::new(conn.channel.clone());
    let written = async {
        let mut responses = content
            .write(conn.leased(requests, &t.lease.id))
            .await?
            .into_inner();
        while responses.message().await?.is_some() {}
        Ok::<(), containerd_client::tonic::Status>(())
    }
    .await;
    reader.await.expect("reader task panicked")?;
    match written {
        Ok(()) => Ok(()),
        // Written meanwhile by someone else (another pull of a shared layer).
        Err(s) if s.code() == Code::AlreadyExists => set_labels(conn, &desc.digest, labels).await,
        Err(s) => Err(conn.error(&format!("writing {}", desc.digest), s)),
    }
}

async fn set_labels(
    conn: &Conn,
    digest: &Digest,
    labels: HashMap<String, String>,
) -> Result<(), StoreError> {
    if labels.is_empty() {
        return Ok(());
    }
    let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
    ContentClient::new(conn.channel.clone())
        .update(conn.req(UpdateRequest {
            info: Some(Info {
                digest: digest.to_string(),
                size: 0,
                created_at: None,
                updated_at: None,
                labels,
            }),
            update_mask: Some(prost_types::FieldMask { paths }),
        }))
        .await
        .map(drop)
        .map_err(|s| conn.error(&format!("labelling {digest}"), s))
}
