//! The Engine's images as an [`Inventory`]: one list of images, one of containers, then
//! each image's inspect document and history, fetched concurrently.
//!
//! A daemon has no blobs to walk, so an image's content is its layers, keyed by chain ID
//! (what the Engine shares between images) with sizes from the history; that keeps
//! shared and unique sizes, and the disk budget, exact across images.

use std::collections::{BTreeMap, HashMap};

use bollard::Docker;
use bollard::query_parameters::{ListContainersOptions, ListImagesOptions};
use futures_util::{StreamExt, TryStreamExt, stream};
use jiff::Timestamp;

use super::connect::daemon_error;
use crate::oci::{Descriptor, Digest, Platform, Reference, media};
use crate::store::state::Sources;
use crate::store::{ContainerUse, Inventory, InventoryImage, StoreError};

/// Inspect and history requests in flight at once.
const DETAIL_CONCURRENCY: usize = 32;

/// Build the inventory of the Engine behind `docker`.
pub async fn load(docker: &Docker, sources: &Sources) -> Result<Inventory, StoreError> {
    let list = docker.list_images(Some(ListImagesOptions {
        all: false,
        ..Default::default()
    }));
    let containers = docker.list_containers(Some(ListContainersOptions {
        all: true,
        ..Default::default()
    }));
    let (list, containers) = tokio::join!(list, containers);
    let list = list.map_err(daemon_error)?;
    let containers = containers.map_err(daemon_error)?;
    let now = Timestamp::now();
    let mut users: HashMap<String, Vec<ContainerUse>> = HashMap::new();
    for c in containers {
        let (Some(image), Some(id)) = (c.image_id.clone(), c.id.clone()) else {
            continue;
        };
        let running = matches!(
            c.state,
            Some(
                bollard::models::ContainerSummaryStateEnum::RUNNING
                    | bollard::models::ContainerSummaryStateEnum::PAUSED
                    | bollard::models::ContainerSummaryStateEnum::RESTARTING
            )
        );
        let created = c.created.and_then(|s| Timestamp::from_second(s).ok());
        users.entry(image).or_default().push(ContainerUse {
            id: id.chars().take(12).collect(),
            name: c
                .names
                .unwrap_or_default()
                .first()
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            running,
            // A running container uses its image now; a stopped one last did when created.
            last_used: if running { Some(now) } else { created },
        });
    }
    let images: Vec<Option<InventoryImage>> = stream::iter(list)
        .map(|summary| {
            let used = users.remove(&summary.id).unwrap_or_default();
            detail(docker, summary, used, sources)
        })
        .buffer_unordered(DETAIL_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(Inventory::of(images.into_iter().flatten().collect(), true))
}

/// One image; `None` when it went away between the list and the inspect.
async fn detail(
    docker: &Docker,
    summary: bollard::models::ImageSummary,
    containers: Vec<ContainerUse>,
    sources: &Sources,
) -> Result<Option<InventoryImage>, StoreError> {
    let (inspect, history) = tokio::join!(
        docker.inspect_image(&summary.id),
        docker.image_history(&summary.id)
    );
    let inspect = match inspect {
        Ok(i) => i,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(None),
        Err(e) => return Err(daemon_error(e)),
    };
    let history = history.unwrap_or_default();
    let id: Digest = summary.id.parse().map_err(|_| {
        StoreError::Daemon(format!(
            "the Docker Engine listed an image ID that is not a digest: {:?}",
            summary.id
        ))
    })?;
    let mut names: Vec<Reference> = summary
        .repo_tags
        .iter()
        .filter(|t| t.as_str() != "<none>:<none>")
        .filter_map(|t| Reference::parse(t).ok())
        .collect();
    // An image pulled by digest only has no tag: the Engine names it by its RepoDigest,
    // which is how a policy's pinned entry (`repo@sha256:…`) finds it again.
    for rd in &summary.repo_digests {
        if let Ok(r) = Reference::parse(rd)
            && !names.iter().any(|n| n.name() == r.name())
        {
            names.push(r);
        }
    }
    names.sort();
    names.dedup();
    let mut repo_digests = summary.repo_digests.clone();
    repo_digests.sort();
    // What each name resolved to at its registry: imagectl's own record for that name
    // while it still points at this image, else the Engine's RepoDigest of its repository
    // (set by the Engine's own pulls; on the containerd store it is the stored target,
    // which is the registry's digest for an image the Engine pulled).
    let mut source_map = BTreeMap::new();
    let mut pulled_at = inspect
        .metadata
        .as_ref()
        .and_then(|m| m.last_tag_time.as_deref())
        .and_then(|t| t.parse::<Timestamp>().ok())
        .filter(|t| t.as_second() > 0);
    for name in &names {
        if let Some(rec) = sources.for_name(name, &id) {
            source_map.insert(name.clone(), rec.source.clone());
            pulled_at = pulled_at.max(Some(rec.at));
            continue;
        }
        let from_engine = repo_digests.iter().find_map(|rd| {
            let (repo, d) = rd.split_once('@')?;
            let repo = Reference::parse(repo).ok()?;
            (repo.name() == name.name()).then(|| d.parse::<Digest>().ok())?
        });
        if let Some(d) = from_engine {
            source_map.insert(name.clone(), d);
        }
    }
    let created = inspect
        .created
        .as_deref()
        .and_then(|c| c.parse::<Timestamp>().ok())
        .or_else(|| Timestamp::from_second(summary.created).ok());
    let platform = inspect.os.as_deref().filter(|os| !os.is_empty()).map(|os| {
        Platform::new(
            os,
            inspect.architecture.as_deref().unwrap_or(""),
            inspect.variant.as_deref().filter(|v| !v.is_empty()),
        )
    });
    let layers: Vec<Digest> = inspect
        .root_fs
        .as_ref()
        .and_then(|r| r.layers.clone())
        .unwrap_or_default()
        .iter()
        .filter_map(|l| l.parse().ok())
        .collect();
    let blobs = layer_sizes(&id, &layers, &history, summary.size.max(0) as u64);
    let last_used = containers
        .iter()
        .filter_map(|c| c.last_used)
        .max()
        .max(pulled_at);
    let media_type = inspect
        .descriptor
        .as_ref()
        .and_then(|d| d.media_type.clone())
        .unwrap_or_else(|| media::DOCKER_CONFIG.to_string());
    Ok(Some(InventoryImage {
        target: Descriptor {
            media_type,
            digest: id.clone(),
            size: 0,
            platform: platform.clone(),
        },
        id,
        names,
        foreign_names: Vec::new(),
        repo_digests,
        sources: source_map,
        created,
        platform,
        blobs,
        pulled_at,
        last_used,
        damage: Vec::new(),
        config: None,
        containers,
        pinned: None,
    }))
}

/// Layer chain IDs with their sizes. The history lists the image's steps newest first;
/// the steps that made a layer are those with a size, matched to the layers in order.
/// When that does not line up (a real but empty layer), the whole image is one piece of
/// content of its own, which loses only the sharing.
fn layer_sizes(
    id: &Digest,
    layers: &[Digest],
    history: &[bollard::models::ImageHistoryResponseItem],
    total: u64,
) -> BTreeMap<Digest, u64> {
    let sized: Vec<u64> = history
        .iter()
        .rev()
        .map(|h| h.size.max(0) as u64)
        .filter(|s| *s > 0)
        .collect();
    let mut out = BTreeMap::new();
    if sized.len() != layers.len() || layers.is_empty() {
        out.insert(id.clone(), total);
        return out;
    }
    let mut chain: Option<Digest> = None;
    for (diff, size) in layers.iter().zip(sized) {
        let next = match &chain {
            None => diff.clone(),
            Some(parent) => Digest::of(format!("{parent} {diff}").as_bytes()),
        };
        out.insert(next.clone(), size);
        chain = Some(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(size: i64) -> bollard::models::ImageHistoryResponseItem {
        bollard::models::ImageHistoryResponseItem {
            size,
            ..Default::default()
        }
    }

    /// Two images sharing a base layer get the same chain ID for it, and a history that
    /// does not line up with the layers makes the image one piece.
    #[test]
    fn chain_ids_share_base_layers() {
        let d = |b: u8| Digest::of(&[b]);
        let a = layer_sizes(&d(9), &[d(1), d(2)], &[step(20), step(0), step(10)], 30);
        let b = layer_sizes(&d(8), &[d(1), d(3)], &[step(5), step(10)], 15);
        let shared: Vec<_> = a.keys().filter(|k| b.contains_key(*k)).collect();
        assert_eq!(shared, vec![&d(1)]);
        assert_eq!(a.values().sum::<u64>(), 30);
        let odd = layer_sizes(&d(7), &[d(1), d(2)], &[step(5)], 5);
        assert_eq!(odd.into_iter().collect::<Vec<_>>(), vec![(d(7), 5)]);
    }
}
