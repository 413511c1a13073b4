//! The disk budget (`prune.max_disk`): when the store would hold more than the budget after
//! the plan's pulls and ordinary removals, images the policy does not want are evicted,
//! least recently used first, until it fits (docuum's rule, inside the planner's safety
//! rules). Sizes are counted per blob, so a layer shared by several evicted images is freed
//! once, and a layer an image that stays still uses is not counted as freed at all.

use std::collections::BTreeSet;

use super::freed::BlobUsers;
use super::model::{Action, ActualImage, DiskBudget, Plan};
use crate::oci::{Digest, Reference};

/// An image the budget may evict: nothing keeps it but the absence of a reason to remove it
/// (it holds no wanted name, no name of a failed entry's repository, is not foreign and not
/// within `keep_within`).
pub(super) struct Evictable<'a> {
    pub image: &'a ActualImage,
    /// Its names that a pull or tag of this plan moves to another image: not the eviction's
    /// to remove (the executor keeps the image if such a pull fails).
    pub moving: Vec<&'a Reference>,
}

/// Evict from `candidates` until the store fits `budget`; adds the `remove` actions (merging
/// any `untag` the plan already has for the same image) and records the outcome in
/// `out.disk`. `images` is every stored image, `removed` the targets the plan already
/// removes, `unreferenced` the bytes of blobs no image uses that stay after this run.
pub(super) fn fit_budget(
    budget: u64,
    images: &[ActualImage],
    removed: &BTreeSet<Digest>,
    unreferenced: u64,
    mut candidates: Vec<Evictable<'_>>,
    out: &mut Plan,
) {
    let mut users = BlobUsers::new(images.iter().filter(|i| !removed.contains(&i.target)));
    let downloads: u64 = out
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Pull { bytes, .. } => *bytes,
            _ => None,
        })
        .sum();
    let projected = users.bytes() + downloads + unreferenced;

    // Least recently used first; an image with no record of either is the oldest.
    candidates.sort_by(|a, b| {
        let age = |e: &Evictable| e.image.pulled_at.max(e.image.last_used);
        age(a)
            .cmp(&age(b))
            .then_with(|| a.image.target.cmp(&b.image.target))
    });
    let mut size = projected;
    let mut evicted = 0;
    for c in candidates {
        if size <= budget {
            break;
        }
        let freed = users.release(c.image);
        size -= freed;
        evicted += 1;
        // The image goes whole: an untag the ordinary rules planned for it is folded in.
        out.actions
            .retain(|a| !matches!(a, Action::Untag { id, .. } if id == &c.image.id));
        out.actions.push(Action::Remove {
            target: c.image.target.clone(),
            id: c.image.id.clone(),
            names: c
                .image
                .names
                .iter()
                .map(|n| &n.name)
                .filter(|n| !c.moving.contains(n))
                .cloned()
                .collect(),
            bytes: freed,
            reason: format!(
                "least recently used, and the store would exceed prune.max_disk ({})",
                human(budget)
            ),
        });
    }
    out.disk = Some(DiskBudget {
        budget,
        projected,
        after_evictions: size,
        evicted,
        fits: size <= budget,
    });
}

/// Sizes as the policy writes them (binary units), for the removal reason and the plan.
pub(super) fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value.fract() == 0.0 {
        format!("{value:.0}{}", UNITS[unit])
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}
