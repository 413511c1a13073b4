//! Merging the files of a policy directory (a GitOps repository) into one policy: images
//! and registries add up; `store`, `defaults`, `prune` and `schedule` may be set by one
//! file only (identical copies in several files are accepted); a repository is declared
//! by one entry only, across all files.

use std::collections::BTreeMap;

use super::ctx::Located;
use super::error::PolicyError;
use super::model::{Defaults, Policy, PruneSpec, ReplicateSpec, Unmanaged};
use super::validate::Fragment;

fn conflict<T>(new: &Located<T>, old: &Located<T>, what: &str) -> PolicyError {
    PolicyError {
        file: new.origin.file.clone(),
        line: new.origin.line,
        column: new.origin.column,
        key: new.key.clone(),
        message: format!(
            "conflicts with {} at {}: {what} may be set in one file of a policy directory only (identical copies are accepted); remove one",
            old.key, old.origin
        ),
    }
}

/// Keeps the first setting of a section; a later different one is a conflict.
fn single<T: PartialEq>(
    slot: &mut Option<Located<T>>,
    new: Option<Located<T>>,
    what: &str,
    errors: &mut Vec<PolicyError>,
) {
    let Some(new) = new else { return };
    match slot {
        None => *slot = Some(new),
        Some(old) if old.value == new.value => {}
        Some(old) => errors.push(conflict(&new, old, what)),
    }
}

/// One policy from the checked files, in order; problems go to `errors`.
pub(crate) fn merge(fragments: Vec<Fragment>, errors: &mut Vec<PolicyError>) -> Policy {
    let mut store = None;
    let mut defaults: Option<Located<Defaults>> = None;
    let mut prune: Option<Located<PruneSpec>> = None;
    let mut schedule = None;
    let mut registries: BTreeMap<String, Located<_>> = BTreeMap::new();
    let mut images: Vec<Located<_>> = Vec::new();
    let mut replicate: Vec<Located<ReplicateSpec>> = Vec::new();
    for f in fragments {
        for r in f.replicate {
            let same = |old: &&Located<ReplicateSpec>| {
                old.value.registry == r.value.registry && old.value.prefix == r.value.prefix
            };
            match replicate.iter().find(same) {
                Some(old) => errors.push(conflict(&r, old, "replication target")),
                None => replicate.push(r),
            }
        }
        single(&mut store, f.store, "store", errors);
        single(&mut defaults, f.defaults, "defaults", errors);
        single(&mut prune, f.prune, "prune", errors);
        single(&mut schedule, f.schedule, "schedule", errors);
        for r in f.registries {
            let host = r.value.0.clone();
            match registries.get(&host) {
                None => {
                    registries.insert(host, r);
                }
                Some(old) if old.value.1 == r.value.1 => {}
                Some(old) => errors.push(conflict(&r, old, &format!("registry {host}"))),
            }
        }
        for img in f.images {
            let dup = images
                .iter()
                .find(|old: &&Located<super::model::ImageSpec>| {
                    old.value.name.name() == img.value.name.name()
                        && old.value.name.digest() == img.value.name.digest()
                });
            if let Some(old) = dup {
                let what = match img.value.name.digest() {
                    Some(d) => format!("{}@{d}", img.value.name.name()),
                    None => img.value.name.name(),
                };
                errors.push(PolicyError {
                    file: img.origin.file.clone(),
                    line: img.origin.line,
                    column: img.origin.column,
                    key: img.key.clone(),
                    message: format!(
                        "{what} is already declared at {} ({}): merge the two entries into one (one entry per repository; digest pins may sit beside it)",
                        old.origin, old.key
                    ),
                });
                continue;
            }
            images.push(img);
        }
    }
    let prune_spec = prune.as_ref().map(|p| p.value.clone()).unwrap_or_default();
    if let Some(p) = &prune
        && p.value.unmanaged == Unmanaged::Remove
        && images.is_empty()
        && errors.is_empty()
    {
        errors.push(PolicyError {
            file: p.origin.file.clone(),
            line: p.origin.line,
            column: p.origin.column,
            key: "prune.unmanaged".to_string(),
            message: "unmanaged: remove with no images would remove every image in the store: declare images, or use unmanaged: keep".to_string(),
        });
    }
    for r in &replicate {
        let onto_itself = images
            .iter()
            .find(|i| r.value.prefix.is_empty() && i.value.name.registry() == r.value.registry);
        if let Some(img) = onto_itself {
            errors.push(PolicyError {
                file: r.origin.file.clone(),
                line: r.origin.line,
                column: r.origin.column,
                key: format!("{}.to", r.key),
                message: format!(
                    "this target would replicate {} onto itself: give the target a path prefix (e.g. {}/mirror)",
                    img.value.name.name(),
                    r.value.registry
                ),
            });
        }
    }
    Policy {
        version: 1,
        store: store.map(|s| s.value),
        registries: registries
            .into_iter()
            .map(|(k, v)| (k, v.value.1))
            .collect(),
        defaults: defaults.map(|d| d.value).unwrap_or_default(),
        images: images.into_iter().map(|i| i.value).collect(),
        prune: prune_spec,
        schedule: schedule.map(|s| s.value),
        replicate: replicate.into_iter().map(|r| r.value).collect(),
    }
}
