//! Expanding two versions of a policy (a review's base and its change) against the
//! registries, each distinct entry once: most entries are the same in both, and a review
//! should cost the registries what one plan costs.

use std::collections::HashMap;

use super::desired::{entry_platforms, expand};
use crate::plan::Desired;
use crate::policy::{ImageSpec, Policy};
use crate::registry::RegistryClient;
use crate::store::Inventory;

/// Expand `old` and `new` as a host without images would see them: sizes are whole
/// images (for the entries' platforms), each counted for every name that needs it.
pub async fn expand_pair(
    client: &RegistryClient,
    old: &Policy,
    new: &Policy,
) -> (Desired, Desired) {
    // Entries with the same meaning share one expansion; platforms are resolved first,
    // since `defaults` may differ between the versions.
    let mut union: Vec<ImageSpec> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut place = |policy: &Policy| -> Vec<usize> {
        policy
            .images
            .iter()
            .map(|spec| {
                let mut spec = spec.clone();
                spec.platforms = entry_platforms(policy, &spec);
                *index.entry(entry_key(&spec)).or_insert_with(|| {
                    union.push(spec);
                    union.len() - 1
                })
            })
            .collect()
    };
    let (old_at, new_at) = (place(old), place(new));
    let everything = Policy {
        images: union,
        replicate: Vec::new(),
        ..new.clone()
    };
    let empty = Inventory::default();
    let expanded = expand(client, &everything, &empty).await;
    let side = async |policy: &Policy, at: Vec<usize>| {
        // Prune rules and replicas come from the version itself; no images, no requests.
        let mut desired = expand(
            client,
            &Policy {
                images: Vec::new(),
                ..policy.clone()
            },
            &empty,
        )
        .await;
        desired.entries = at
            .into_iter()
            .zip(&policy.images)
            .map(|(i, spec)| {
                let mut entry = expanded.entries[i].clone();
                entry.label = spec.origin.to_string();
                entry
            })
            .collect();
        desired
    };
    (side(old, old_at).await, side(new, new_at).await)
}

/// What makes two entries expand alike: everything but where they are written.
fn entry_key(spec: &ImageSpec) -> String {
    let selector = spec.selector.as_ref().map(|s| {
        (
            s.pattern.as_ref().map(|p| p.as_str().to_string()),
            s.semver.as_ref().map(|v| v.to_string()),
            s.keep,
            s.by,
        )
    });
    format!(
        "{}|{:?}|{:?}|{:?}|{:?}",
        spec.name, spec.tags, selector, spec.platforms, spec.also_tag
    )
}
