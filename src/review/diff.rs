//! What a change of the policy does to the wanted set, per repository, and to the
//! settings; and, for hosts that reported their state, what it would do there.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::Serialize;

use super::settings::{Settings, entry_settings, global_settings};
use crate::oci::{Digest, Reference};
use crate::plan::{Desired, Plan, RemovalLimit};
use crate::policy::Policy;

/// The change from one policy version to another (`imagectl diff --format json`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PolicyDiff {
    /// Counts, for the first line a reviewer reads.
    pub summary: Summary,
    /// Repositories the change touches, by name.
    pub repositories: Vec<RepositoryDiff>,
    /// Settings outside `images:` that change.
    pub settings: Vec<SettingChange>,
    /// Entries that could not be expanded (either version): the diff is incomplete.
    pub failures: Vec<DiffFailure>,
    /// The new policy planned against each host state given with `--state`.
    pub hosts: Vec<HostCheck>,
    /// What a reviewer must not miss, one sentence each.
    pub warnings: Vec<String>,
}

/// Counts of a diff.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Names newly wanted.
    pub added: usize,
    /// Names no longer wanted.
    pub removed: usize,
    /// Of those, names hosts will remove (retention, or `unmanaged: remove`).
    pub removed_on_hosts: usize,
    /// Names whose digest changes.
    pub changed: usize,
    /// Settings that change (per repository and global).
    pub settings: usize,
    /// Bytes a host without them downloads for the added and changed names.
    pub download_bytes: u64,
}

/// One repository's changes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RepositoryDiff {
    /// `registry/repository`.
    pub repository: String,
    /// Names newly wanted.
    pub added: Vec<Added>,
    /// Names no longer wanted.
    pub removed: Vec<Removed>,
    /// Names whose digest changes: a retargeted `also_tag`, or a new pin.
    pub changed: Vec<Changed>,
    /// Entry settings that change (tags, match, semver, keep, by, platforms, also_tag).
    pub settings: Vec<SettingChange>,
}

/// A name newly wanted.
#[derive(Clone, Debug, Serialize)]
pub struct Added {
    /// The name.
    pub name: Reference,
    /// What it resolves to now.
    pub digest: Digest,
    /// Bytes a host without the image downloads (`null`: unknown, or a second name of
    /// an image listed already).
    pub download_bytes: Option<u64>,
}

/// A name no longer wanted.
#[derive(Clone, Debug, Serialize)]
pub struct Removed {
    /// The name.
    pub name: Reference,
    /// What it resolved to under the old policy.
    pub digest: Digest,
    /// What hosts do with it.
    pub fate: Fate,
}

/// What hosts do with a name the policy stops wanting, as the planner decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Superseded by retention: removed (subject to `keep_within` and `max_removals`).
    Retention,
    /// Declared by no entry and `prune.unmanaged: remove`: removed (same limits).
    UnmanagedRemove,
    /// Declared by no entry and `prune.unmanaged: keep`: stays on hosts, unmanaged.
    KeptUnmanaged,
    /// Its repository's entry failed to expand: hosts leave the repository alone.
    LeftAlone,
}

impl Fate {
    /// Whether hosts remove the name.
    pub fn removes(self) -> bool {
        matches!(self, Self::Retention | Self::UnmanagedRemove)
    }

    /// How a reviewer reads it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Retention => "removed by retention",
            Self::UnmanagedRemove => "removed (unmanaged: remove)",
            Self::KeptUnmanaged => "kept on hosts, no longer managed (unmanaged: keep)",
            Self::LeftAlone => "left alone: its entry failed to resolve",
        }
    }
}

/// A name whose digest changes.
#[derive(Clone, Debug, Serialize)]
pub struct Changed {
    /// The name (the repository, for a pin).
    pub name: Reference,
    /// Before.
    pub old_digest: Digest,
    /// After.
    pub new_digest: Digest,
    /// Bytes a host without the new image downloads.
    pub download_bytes: Option<u64>,
    /// For a moved pin: what hosts do with the image of the old pin, which the policy
    /// no longer names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_pin: Option<Fate>,
}

/// A setting that changes; `null` on one side when it is set on the other only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    /// `prune.max_removals`, `keep`, `registries.HOST.mirrors`, …
    pub key: String,
    /// Before.
    pub old: Option<String>,
    /// After.
    pub new: Option<String>,
}

/// An entry that could not be expanded.
#[derive(Clone, Debug, Serialize)]
pub struct DiffFailure {
    /// `old` or `new`.
    pub policy: &'static str,
    /// Where the entry is written.
    pub entry: String,
    /// Its repository.
    pub repository: String,
    /// What went wrong.
    pub error: String,
}

/// The new policy against one host's reported state.
#[derive(Clone, Debug, Serialize)]
pub struct HostCheck {
    /// The report file.
    pub report: String,
    /// The host's store, as it reported it.
    pub location: String,
    /// When the host reported.
    pub reported_at: Timestamp,
    /// Pulls the host would make.
    pub pulls: usize,
    /// Removals (images and names) the host would make.
    pub removals: usize,
    /// Set when those exceed the policy's `max_removals`: the host would remove nothing.
    pub removal_limit: Option<RemovalLimit>,
    /// Names this change stops wanting that containers on the host use.
    pub in_use: Vec<InUse>,
}

/// A dropped name a host still runs.
#[derive(Clone, Debug, Serialize)]
pub struct InUse {
    /// The name.
    pub name: Reference,
    /// The containers using its image.
    pub containers: Vec<String>,
}

/// One version of the policy, expanded.
pub struct Side<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// Its expansion.
    pub desired: &'a Desired,
}

/// Name → (digest, download bytes), per repository.
type Wanted = BTreeMap<String, BTreeMap<Reference, (Digest, Option<u64>)>>;

fn wanted(desired: &Desired) -> Wanted {
    let mut out: Wanted = BTreeMap::new();
    for entry in &desired.entries {
        for w in entry.wanted.iter().flatten() {
            out.entry(entry.repository.clone())
                .or_default()
                .entry(w.name.clone())
                .or_insert((w.digest.clone(), w.size));
            for t in &w.also_tag {
                out.entry(t.name())
                    .or_default()
                    .entry(t.clone())
                    .or_insert((w.digest.clone(), None));
            }
        }
    }
    out
}

/// The diff from `old` to `new`.
pub fn diff_policies(old: Side<'_>, new: Side<'_>) -> PolicyDiff {
    let mut out = PolicyDiff::default();
    for (side, label) in [(&old, "old"), (&new, "new")] {
        for e in &side.desired.entries {
            if let Err(error) = &e.wanted {
                out.failures.push(DiffFailure {
                    policy: label,
                    entry: e.label.clone(),
                    repository: e.repository.clone(),
                    error: error.to_string(),
                });
            }
        }
    }
    let failed_new: BTreeSet<&str> = new
        .desired
        .entries
        .iter()
        .filter(|e| e.wanted.is_err())
        .map(|e| e.repository.as_str())
        .collect();
    let scope: BTreeMap<&str, BTreeSet<&str>> =
        new.desired
            .entries
            .iter()
            .fold(BTreeMap::new(), |mut m, e| {
                m.entry(e.repository.as_str())
                    .or_default()
                    .extend(e.scope.iter().map(String::as_str));
                m
            });
    let fate = |name: &Reference| {
        let repo = name.name();
        if failed_new.contains(repo.as_str()) {
            Fate::LeftAlone
        } else if name
            .tag()
            .is_some_and(|t| scope.get(repo.as_str()).is_some_and(|s| s.contains(t)))
        {
            Fate::Retention
        } else if new.desired.prune.unmanaged_remove {
            Fate::UnmanagedRemove
        } else {
            Fate::KeptUnmanaged
        }
    };

    let (before, after) = (wanted(old.desired), wanted(new.desired));
    let (old_entries, new_entries) = (entry_settings(old.policy), entry_settings(new.policy));
    let repos: BTreeSet<&String> = before
        .keys()
        .chain(after.keys())
        .chain(old_entries.keys())
        .chain(new_entries.keys())
        .collect();
    let none = BTreeMap::new();
    let no_settings = Settings::new();
    for repo in repos {
        let (b, a) = (
            before.get(repo).unwrap_or(&none),
            after.get(repo).unwrap_or(&none),
        );
        let mut r = RepositoryDiff {
            repository: repo.clone(),
            settings: compare(
                old_entries.get(repo).unwrap_or(&no_settings),
                new_entries.get(repo).unwrap_or(&no_settings),
            ),
            ..Default::default()
        };
        for (name, (digest, size)) in a {
            match b.get(name) {
                None => r.added.push(Added {
                    name: name.clone(),
                    digest: digest.clone(),
                    download_bytes: *size,
                }),
                Some((old_digest, _)) if old_digest != digest => r.changed.push(Changed {
                    name: name.clone(),
                    old_digest: old_digest.clone(),
                    new_digest: digest.clone(),
                    download_bytes: *size,
                    old_pin: None,
                }),
                Some(_) => {}
            }
        }
        for (name, (digest, _)) in b {
            if !a.contains_key(name) {
                r.removed.push(Removed {
                    name: name.clone(),
                    digest: digest.clone(),
                    fate: fate(name),
                });
            }
        }
        pair_pins(&mut r);
        if !(r.added.is_empty()
            && r.removed.is_empty()
            && r.changed.is_empty()
            && r.settings.is_empty())
        {
            out.repositories.push(r);
        }
    }
    out.settings = compare(&global_settings(old.policy), &global_settings(new.policy));
    out.summarise();
    if let Some(max) = new.desired.prune.max_removals
        && out.summary.removed_on_hosts > max
    {
        out.warnings.push(format!(
            "This change drops {} names that hosts would remove, more than prune.max_removals ({max}): a host holding them all removes nothing until max_removals is raised.",
            out.summary.removed_on_hosts
        ));
    }
    out
}

/// A pin replaced by another pin of the same repository reads as one moved digest.
fn pair_pins(r: &mut RepositoryDiff) {
    let added: Vec<usize> = (0..r.added.len())
        .filter(|&i| r.added[i].name.digest().is_some())
        .collect();
    let removed: Vec<usize> = (0..r.removed.len())
        .filter(|&i| r.removed[i].name.digest().is_some())
        .collect();
    if added.len() != 1 || removed.len() != 1 {
        return;
    }
    let a = r.added.remove(added[0]);
    let old = r.removed.remove(removed[0]);
    r.changed.push(Changed {
        name: a.name.without_digest(),
        old_digest: old.digest,
        new_digest: a.digest,
        download_bytes: a.download_bytes,
        old_pin: Some(old.fate),
    });
}

fn compare(old: &Settings, new: &Settings) -> Vec<SettingChange> {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| SettingChange {
            key: k.clone(),
            old: old.get(k).cloned(),
            new: new.get(k).cloned(),
        })
        .collect()
}

impl PolicyDiff {
    /// Whether the change changes anything.
    pub fn is_empty(&self) -> bool {
        self.repositories.is_empty() && self.settings.is_empty()
    }

    fn summarise(&mut self) {
        let mut s = Summary {
            settings: self.settings.len(),
            ..Default::default()
        };
        for r in &self.repositories {
            s.added += r.added.len();
            s.removed += r.removed.len();
            s.removed_on_hosts += r.removed.iter().filter(|x| x.fate.removes()).count();
            s.changed += r.changed.len();
            s.settings += r.settings.len();
            s.download_bytes += r
                .added
                .iter()
                .filter_map(|a| a.download_bytes)
                .chain(r.changed.iter().filter_map(|c| c.download_bytes))
                .sum::<u64>();
        }
        self.summary = s;
    }

    /// Add what the new policy does on a reported host: `plan` is the new policy planned
    /// against its reported state, `used` the names of its images that containers use.
    pub fn check_host(
        &mut self,
        report: String,
        location: String,
        reported_at: Timestamp,
        used: &BTreeMap<Reference, Vec<String>>,
        plan: &Plan,
    ) {
        let in_use: Vec<InUse> = self
            .repositories
            .iter()
            .flat_map(|r| &r.removed)
            .filter_map(|x| {
                used.get(&x.name).map(|c| InUse {
                    name: x.name.clone(),
                    containers: c.clone(),
                })
            })
            .collect();
        self.warnings
            .extend(host_warnings(&location, plan, &in_use));
        self.hosts.push(HostCheck {
            report,
            location,
            reported_at,
            pulls: plan
                .actions
                .iter()
                .filter(|a| matches!(a, crate::plan::Action::Pull { .. }))
                .count(),
            removals: plan.removals(),
            removal_limit: plan.removal_limit.clone(),
            in_use,
        });
    }
}

/// The warnings of a plan for one host: removals over the limit, and dropped names that
/// containers there use.
pub fn host_warnings(host: &str, plan: &Plan, in_use: &[InUse]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(l) = &plan.removal_limit {
        out.push(format!(
            "{host}: {} removals exceed prune.max_removals ({}): apply there removes nothing until the limit is raised.",
            l.planned, l.max
        ));
    }
    for u in in_use {
        out.push(format!(
            "{host}: {} is no longer wanted but container {} uses it: the host keeps it while it runs.",
            u.name,
            u.containers.join(", ")
        ));
    }
    out
}
