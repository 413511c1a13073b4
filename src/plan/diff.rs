//! The diff. Each stored name is classified first — desired, superseded by retention,
//! unmanaged, or protected — and only then is an action chosen, so every removal has a
//! stated reason and every safety rule is applied in one place.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::budget::{Evictable, fit_budget};
use super::freed::BlobUsers;
use super::model::*;
use super::replica::plan_replicas;
use super::replica_model::ReplicaAction;
use crate::oci::{Digest, Reference};

/// Plan the changes that make `actual` what `desired` says, as of `now`.
pub fn plan(desired: &Desired, actual: &Actual, now: Timestamp) -> Plan {
    let mut out = Plan::default();
    let mut by_name: BTreeMap<&Reference, (&ActualImage, Option<&Digest>)> = BTreeMap::new();
    for img in &actual.images {
        for n in &img.names {
            by_name.insert(&n.name, (img, n.source_digest.as_ref()));
        }
    }

    // Names the policy wants, and where they must point after this run.
    let mut wanted: BTreeSet<Reference> = BTreeSet::new();
    // Names that move to another image (pulled anew, or retagged).
    let mut moving: BTreeSet<Reference> = BTreeSet::new();
    let mut failed: BTreeSet<&str> = BTreeSet::new();
    let mut scope: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let (mut pulls, mut tags) = (Vec::new(), Vec::new());
    for entry in &desired.entries {
        scope
            .entry(&entry.repository)
            .or_default()
            .extend(entry.scope.iter().map(String::as_str));
        let images = match &entry.wanted {
            Ok(images) => images,
            Err(error) => {
                failed.insert(&entry.repository);
                out.failures.push(EntryFailure {
                    entry: entry.label.clone(),
                    repository: entry.repository.clone(),
                    error: error.to_string(),
                });
                continue;
            }
        };
        for w in images {
            if !wanted.insert(w.name.clone()) {
                continue;
            }
            let current = by_name.get(&w.name);
            let current_ok = current.is_some_and(|(_, src)| *src == Some(&w.digest));
            if !current_ok {
                if current.is_some() {
                    moving.insert(w.name.clone());
                }
                pulls.push(Action::Pull {
                    name: w.name.clone(),
                    digest: w.digest.clone(),
                    replaces: current.map(|(img, _)| img.id.clone()),
                    bytes: w.download,
                    platforms: entry.platforms.iter().map(|p| p.to_string()).collect(),
                });
            }
            let source_target = current.filter(|_| current_ok).map(|(img, _)| &img.target);
            for t in &w.also_tag {
                if !wanted.insert(t.clone()) {
                    continue;
                }
                let target_now = by_name.get(t).map(|(img, _)| &img.target);
                if source_target.is_none() || target_now != source_target {
                    if target_now.is_some() {
                        moving.insert(t.clone());
                    }
                    tags.push(Action::Tag {
                        source: w.name.clone(),
                        target: t.clone(),
                    });
                }
            }
        }
    }

    let recent = |img: &ActualImage| {
        desired.prune.keep_within.is_some_and(|window| {
            img.pulled_at
                .max(img.last_used)
                .is_some_and(|t| now.duration_since(t) < window)
        })
    };
    let (mut untags, mut removes) = (Vec::new(), Vec::new());
    let mut evictable = Vec::new();
    let mut images: Vec<&ActualImage> = actual.images.iter().collect();
    images.sort_by(|a, b| a.target.cmp(&b.target));
    for img in images {
        if !img.containers.is_empty() || img.pinned.is_some() {
            let dropped = img.names.iter().any(|n| !wanted.contains(&n.name));
            if dropped || img.names.is_empty() {
                out.protected.push(Protected {
                    name: match img.names.first() {
                        Some(n) => n.name.to_string(),
                        None => format!("<none>@{}", img.id.short()),
                    },
                    reason: match &img.pinned {
                        Some(reason) if img.containers.is_empty() => reason.clone(),
                        _ => format!("used by container {}", img.containers.join(", ")),
                    },
                });
            }
            continue;
        }
        let mut kept = 0usize;
        let mut moved = Vec::new();
        let mut dropped: Vec<(&Reference, String)> = Vec::new();
        // Held by a name the policy wants here, or by a failed entry: never evicted.
        let mut held = false;
        for n in &img.names {
            let name = &n.name;
            if wanted.contains(name) {
                if moving.contains(name) {
                    moved.push(name);
                } else {
                    kept += 1;
                    held = true;
                }
                continue;
            }
            let repo = name.name();
            if failed.contains(repo.as_str()) {
                held = true;
                out.protected.push(Protected {
                    name: name.to_string(),
                    reason: format!("the policy entry for {repo} failed to resolve"),
                });
                kept += 1;
            } else if name
                .tag()
                .is_some_and(|t| scope.get(repo.as_str()).is_some_and(|s| s.contains(t)))
            {
                dropped.push((name, "superseded by retention".into()));
            } else if desired.prune.unmanaged_remove {
                dropped.push((
                    name,
                    "not declared by the policy (unmanaged: remove)".into(),
                ));
            } else {
                kept += 1;
            }
        }
        let dangling_now = img.names.is_empty();
        let would_go = !img.foreign
            && kept == 0
            && (!dropped.is_empty()
                || (desired.prune.dangling && (dangling_now || !moved.is_empty())));
        let label = || match img.names.first() {
            Some(n) => n.name.to_string(),
            None => format!("<none>@{}", img.id.short()),
        };
        if !would_go && !held && !img.foreign && !recent(img) {
            evictable.push(Evictable {
                image: img,
                moving: moved.clone(),
            });
        }
        if (would_go || !dropped.is_empty()) && recent(img) {
            out.protected.push(Protected {
                name: label(),
                reason: format!(
                    "pulled or used within keep_within ({})",
                    desired
                        .prune
                        .keep_within
                        .map(|w| format!("{w:#}"))
                        .unwrap_or_default()
                ),
            });
            continue;
        }
        if would_go {
            let reason = if !dropped.is_empty() {
                dropped[0].1.clone()
            } else if dangling_now {
                "dangling (untagged)".to_string()
            } else {
                format!("replaced under {} by a newer image", moved[0])
            };
            removes.push(Action::Remove {
                target: img.target.clone(),
                id: img.id.clone(),
                names: dropped.iter().map(|(n, _)| (*n).clone()).collect(),
                // Counted below, once every removal is known.
                bytes: 0,
                reason,
            });
        } else {
            for (name, reason) in dropped {
                untags.push(Action::Untag {
                    name: name.clone(),
                    id: img.id.clone(),
                    reason,
                });
            }
        }
    }

    // A blob is freed only when no image that stays needs it, and a blob removed images
    // share is freed once (with the last of them to go).
    let mut users = BlobUsers::new(&actual.images);
    for action in &mut removes {
        if let Action::Remove { target, bytes, .. } = action
            && let Some(img) = actual.images.iter().find(|i| &i.target == target)
        {
            *bytes = users.release(img);
        }
    }
    out.actions.extend(pulls);
    out.actions.extend(tags);
    out.actions.extend(untags);
    out.actions.extend(removes);
    if desired.prune.dangling && actual.unreferenced_bytes + actual.leftover_bytes > 0 {
        out.actions.push(Action::PruneBlobs {
            bytes: actual.unreferenced_bytes,
            leftovers: actual.leftover_bytes,
        });
    }
    if let Some(budget) = desired.prune.max_disk {
        let removed: BTreeSet<Digest> = out
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Remove { target, .. } => Some(target.clone()),
                _ => None,
            })
            .collect();
        let unreferenced = if desired.prune.dangling {
            0
        } else {
            actual.unreferenced_bytes
        };
        fit_budget(
            budget,
            &actual.images,
            &removed,
            unreferenced,
            evictable,
            &mut out,
        );
    }
    let removals = out.removals();
    if let Some(max) = desired.prune.max_removals
        && removals > max
    {
        out.removal_limit = Some(RemovalLimit {
            planned: removals,
            max,
        });
    }
    out.replication = plan_replicas(
        desired,
        &actual.replicas,
        &actual.pushed,
        &actual.unreadable_ledgers,
        &actual.referrers,
    );
    let deletions = out
        .replication
        .actions
        .iter()
        .filter(|a| matches!(a, ReplicaAction::DeleteTag { .. }))
        .count();
    if let Some(max) = desired.prune.max_removals
        && deletions > max
    {
        out.replication
            .actions
            .retain(|a| !matches!(a, ReplicaAction::DeleteTag { .. }));
        out.replication.failures.push(format!(
            "{deletions} replica tag deletions exceed prune.max_removals ({max}): none are deleted; review `imagectl plan`, then raise max_removals if they are right"
        ));
    }
    out
}
