//! Disk usage like `docker system df -v`: per image its shared and unique bytes, and what
//! pruning would reclaim.

use serde::Serialize;

use crate::store::Inventory;

/// Usage of one image.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageUsage {
    /// `repo:tag` (docker's familiar form) or `<none>:<none>`.
    pub repository: String,
    /// Tag or `<none>`.
    pub tag: String,
    /// Short image ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// All bytes the image needs.
    pub size: u64,
    /// Bytes in blobs other images need too.
    pub shared_size: u64,
    /// Bytes only this image needs.
    pub unique_size: u64,
    /// Whether it is untagged.
    pub dangling: bool,
}

/// Usage of the whole store.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiskUsage {
    /// Images in the store.
    pub images: usize,
    /// Images with a name.
    pub active: usize,
    /// Bytes of every blob, each counted once.
    pub total_size: u64,
    /// Bytes `prune` would free: dangling images' unique bytes plus unreferenced blobs.
    pub reclaimable: u64,
    /// Bytes of blobs no image references.
    pub unreferenced: u64,
    /// Per image.
    pub per_image: Vec<ImageUsage>,
    /// Bytes the daemon's image filesystem uses for unpacked layers (containerd's
    /// snapshotter: the figure CRI `ImageFsInfo` gives the kubelet), where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_fs_used: Option<u64>,
    /// Bytes interrupted writers left behind (part of `reclaimable`): the next pull, load
    /// or apply removes them.
    pub leftovers: u64,
    /// Bytes only the referrers kept beside images need (signatures, attestations, SBOMs
    /// from a loaded archive): part of `total_size`, never reclaimable while their image is
    /// stored. Left out when there are none.
    #[serde(skip_serializing_if = "is_zero")]
    pub referrers_size: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Compute usage from an inventory and the list of blobs present.
pub fn disk_usage(inventory: &Inventory, blobs: &[(crate::oci::Digest, u64)]) -> DiskUsage {
    let users = inventory.blob_users();
    let referenced = inventory.referenced_blobs();
    let unreferenced: u64 = blobs
        .iter()
        .filter(|(d, _)| !referenced.contains(d))
        .map(|(_, s)| s)
        .sum();
    let mut per_image = Vec::new();
    let mut reclaimable = unreferenced;
    for image in &inventory.images {
        let (mut shared, mut unique) = (0, 0);
        for (d, size) in &image.blobs {
            if users.get(d).copied().unwrap_or(0) > 1 {
                shared += size;
            } else {
                unique += size;
            }
        }
        if image.is_dangling() {
            reclaimable += unique;
        }
        let names = if image.names.is_empty() {
            vec![("<none>".to_string(), "<none>".to_string())]
        } else {
            image
                .names
                .iter()
                .map(|n| (n.familiar_name(), n.tag().unwrap_or("<none>").to_string()))
                .collect()
        };
        for (repository, tag) in names {
            per_image.push(ImageUsage {
                repository,
                tag,
                id: image.id.short().to_string(),
                size: image.size(),
                shared_size: shared,
                unique_size: unique,
                dangling: image.is_dangling(),
            });
        }
    }
    let total_size: u64 = blobs.iter().map(|(_, s)| s).sum();
    if inventory.containers_known {
        // A daemon's rule (docker system df): active images are those containers use;
        // everything but their unique bytes could go.
        let in_use: Vec<_> = inventory
            .images
            .iter()
            .filter(|i| !i.containers.is_empty())
            .collect();
        let used: u64 = in_use
            .iter()
            .flat_map(|i| i.blobs.iter())
            .filter(|(d, _)| users.get(*d).copied().unwrap_or(0) <= 1)
            .map(|(_, s)| s)
            .sum();
        return DiskUsage {
            images: inventory.images.len(),
            active: in_use.len(),
            total_size,
            reclaimable: total_size.saturating_sub(used),
            unreferenced,
            per_image,
            image_fs_used: None,
            leftovers: 0,
            referrers_size: 0,
        };
    }
    DiskUsage {
        images: inventory.images.len(),
        active: inventory.images.iter().filter(|i| !i.is_dangling()).count(),
        total_size,
        reclaimable,
        unreferenced,
        per_image,
        image_fs_used: None,
        leftovers: 0,
        referrers_size: referrers_size(inventory, &users),
    }
}

/// Bytes of the kept referrers' blobs that no image needs, each counted once.
fn referrers_size(
    inventory: &Inventory,
    users: &std::collections::BTreeMap<crate::oci::Digest, usize>,
) -> u64 {
    let mut own = std::collections::BTreeMap::new();
    for r in &inventory.referrers {
        own.extend(r.blobs.iter().filter(|(d, _)| !users.contains_key(*d)));
    }
    own.values().copied().sum()
}
