//! Replication in the plan: which wanted images each target registry lacks, and which tags
//! imagectl once pushed there that the policy no longer wants. Pure like the rest of the
//! planner; the target tags' current digests and the ledger of pushed tags are inputs.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Desired, WantedImage};
use super::replica_model::{
    ReferrersAtSource, ReplicaAction, ReplicaObservation, ReplicaPlan, ReplicaRecord, ReplicaTarget,
};
use super::replica_referrers::referrer_carry;
use crate::oci::{Digest, Reference};

/// What each target lacks and which of imagectl's own pushes to delete.
///
/// A pushed tag is deleted only when its source repository is still declared by an entry
/// whose expansion succeeded and that no longer wants the tag; a failed or removed entry,
/// or a target no longer in the policy, keeps everything; so does a target whose ledger
/// could not be read (`unreadable`: target label and why), as it may list pushes the
/// planner does not see. `referrers`: what the sources hold of the wanted images'
/// referrers, counted for each image a target carries them for.
pub fn plan_replicas(
    desired: &Desired,
    observed: &[ReplicaObservation],
    ledger: &[ReplicaRecord],
    unreadable: &[(String, String)],
    referrers: &[ReferrersAtSource],
) -> ReplicaPlan {
    let mut out = ReplicaPlan::default();
    for (label, why) in unreadable {
        out.failures.push(format!(
            "{label}: its ledger of pushed tags could not be read ({why}), so nothing is deleted there"
        ));
    }
    let now: BTreeMap<&Reference, &Result<Option<Digest>, String>> =
        observed.iter().map(|o| (&o.target, &o.digest)).collect();
    let pushed: BTreeMap<&Reference, &ReplicaRecord> =
        ledger.iter().map(|r| (&r.target, r)).collect();
    let mut wanted_targets: BTreeSet<Reference> = BTreeSet::new();
    let mut unique: BTreeSet<&Reference> = BTreeSet::new();
    let wanted_images: Vec<&WantedImage> = desired
        .entries
        .iter()
        .filter_map(|e| e.wanted.as_ref().ok())
        .flatten()
        .filter(|w| unique.insert(&w.name))
        .collect();
    let mut deletions = Vec::new();
    for target in &desired.replicas {
        for w in &wanted_images {
            let seen = Seen {
                now: &now,
                pushed: &pushed,
                referrers,
            };
            push_if_needed(target, w, &seen, &mut wanted_targets, &mut out);
        }
    }
    let declared: BTreeMap<&str, bool> = desired
        .entries
        .iter()
        .map(|e| (e.repository.as_str(), e.wanted.is_ok()))
        .collect();
    for record in ledger {
        let Some(target) = desired
            .replicas
            .iter()
            .find(|t| t.target_of(&record.source).as_ref() == Some(&record.target))
        else {
            continue;
        };
        if !target.prune
            || wanted_targets.contains(&record.target)
            || unreadable.iter().any(|(label, _)| *label == target.label())
        {
            continue;
        }
        if declared.get(record.source.name().as_str()) != Some(&true) {
            continue;
        }
        deletions.push(ReplicaAction::DeleteTag {
            target: record.target.clone(),
            digest: record.pushed_digest.clone(),
            reason: format!("{} is no longer wanted by the policy", record.source),
        });
    }
    out.actions.extend(deletions);
    out
}

/// What the planner knows of the targets and sources.
struct Seen<'a> {
    now: &'a BTreeMap<&'a Reference, &'a Result<Option<Digest>, String>>,
    pushed: &'a BTreeMap<&'a Reference, &'a ReplicaRecord>,
    referrers: &'a [ReferrersAtSource],
}

fn push_if_needed(
    target: &ReplicaTarget,
    w: &WantedImage,
    seen: &Seen<'_>,
    wanted_targets: &mut BTreeSet<Reference>,
    out: &mut ReplicaPlan,
) {
    let (now, pushed) = (seen.now, seen.pushed);
    let Some(dest) = target.target_of(&w.name) else {
        out.failures.push(format!(
            "{} cannot be replicated to {}: the target name would not be a valid reference",
            w.name,
            target.label()
        ));
        return;
    };
    if dest.name() == target.ledger_repository() {
        out.failures.push(format!(
            "{} cannot be replicated to {}: {dest} is where imagectl keeps its ledger of pushed tags there",
            w.name,
            target.label()
        ));
        return;
    }
    wanted_targets.insert(dest.clone());
    let current = match now.get(&dest) {
        Some(Ok(d)) => d.clone(),
        Some(Err(e)) => {
            out.failures.push(format!("{dest}: {e}"));
            return;
        }
        // Not observed: the executor checks when it copies.
        None => None,
    };
    let ours_and_current = pushed
        .get(&dest)
        .is_some_and(|r| r.source_digest == w.digest && current.as_ref() == Some(&r.pushed_digest));
    let up_to_date = current.as_ref() == Some(&w.digest) || ours_and_current;
    if target.referrers {
        let carry = referrer_carry(
            target,
            w,
            dest.clone(),
            current.clone().filter(|_| up_to_date),
            pushed.get(&dest).copied(),
            seen.referrers,
            &mut out.failures,
        );
        out.referrers.push(carry);
    }
    if up_to_date {
        out.up_to_date += 1;
        return;
    }
    out.actions.push(ReplicaAction::Push {
        source: w.name.clone(),
        digest: w.digest.clone(),
        target: dest,
        replaces: current,
        platforms: target.platforms.iter().map(ToString::to_string).collect(),
    });
}

/// The target tags a run must look at: every wanted image on every target.
pub fn replica_targets(desired: &Desired) -> Vec<Reference> {
    let mut out = BTreeSet::new();
    for target in &desired.replicas {
        for e in &desired.entries {
            for w in e.wanted.iter().flatten() {
                out.extend(target.target_of(&w.name));
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::model::DesiredEntry;

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }
    fn d(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap()
    }
    fn target(prune: bool) -> ReplicaTarget {
        ReplicaTarget {
            registry: "10.0.0.1:5000".into(),
            prefix: "mirror".into(),
            platforms: Vec::new(),
            prune,
            ledger: "default".into(),
            referrers: true,
        }
    }
    fn desired(wanted: Result<Vec<(&str, char)>, crate::plan::EntryError>, prune: bool) -> Desired {
        Desired {
            entries: vec![DesiredEntry {
                label: "p.yaml:3:5".into(),
                repository: "docker.io/library/nginx".into(),
                wanted: wanted.map(|ws| {
                    ws.into_iter()
                        .map(|(n, c)| WantedImage {
                            name: r(n),
                            digest: d(c),
                            also_tag: Vec::new(),
                            download: None,
                            size: None,
                        })
                        .collect()
                }),
                scope: BTreeSet::new(),
                platforms: Vec::new(),
            }],
            replicas: vec![target(prune)],
            ..Desired::default()
        }
    }
    fn record(tag: &str, c: char) -> ReplicaRecord {
        ReplicaRecord {
            target: r(&format!("10.0.0.1:5000/mirror/library/nginx:{tag}")),
            source: r(&format!("nginx:{tag}")),
            source_digest: d(c),
            pushed_digest: d(c),
            referrers: Vec::new(),
            referrer_tags: BTreeMap::new(),
        }
    }

    #[test]
    fn mapping() {
        let t = target(true);
        assert_eq!(
            t.target_of(&r("nginx:1.25")).unwrap().to_string(),
            "10.0.0.1:5000/mirror/library/nginx:1.25"
        );
        assert_eq!(
            t.target_of(&r("ghcr.io/org/app:v1")).unwrap().to_string(),
            "10.0.0.1:5000/mirror/org/app:v1"
        );
        let pinned = r(&format!("busybox@{}", d('b')));
        assert_eq!(
            t.target_of(&pinned).unwrap().to_string(),
            format!("10.0.0.1:5000/mirror/library/busybox@{}", d('b'))
        );
        let bare = ReplicaTarget {
            prefix: String::new(),
            ..target(true)
        };
        assert_eq!(
            bare.target_of(&r("nginx:1")).unwrap().to_string(),
            "10.0.0.1:5000/library/nginx:1"
        );
    }

    #[test]
    fn pushes_what_differs_and_counts_the_rest() {
        let want = desired(Ok(vec![("nginx:1.25", 'a'), ("nginx:1.26", 'b')]), true);
        let observed = vec![
            ReplicaObservation {
                target: r("10.0.0.1:5000/mirror/library/nginx:1.25"),
                digest: Ok(Some(d('a'))),
            },
            ReplicaObservation {
                target: r("10.0.0.1:5000/mirror/library/nginx:1.26"),
                digest: Ok(None),
            },
        ];
        let p = plan_replicas(&want, &observed, &[], &[], &[]);
        assert_eq!(p.up_to_date, 1);
        assert_eq!(p.actions.len(), 1);
        assert!(
            matches!(&p.actions[0], ReplicaAction::Push { target, replaces: None, .. }
            if target.to_string() == "10.0.0.1:5000/mirror/library/nginx:1.26")
        );
    }

    #[test]
    fn deletes_only_its_own_unwanted_pushes() {
        let want = desired(Ok(vec![("nginx:1.26", 'b')]), true);
        let ledger = vec![record("1.25", 'a'), record("1.26", 'b')];
        let p = plan_replicas(&want, &[], &ledger, &[], &[]);
        let deleted: Vec<String> = p
            .actions
            .iter()
            .filter_map(|a| match a {
                ReplicaAction::DeleteTag { target, .. } => Some(target.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(deleted, ["10.0.0.1:5000/mirror/library/nginx:1.25"]);
    }

    #[test]
    fn an_unreadable_ledger_deletes_nothing_and_fails() {
        let want = desired(Ok(vec![("nginx:1.26", 'b')]), true);
        let ledger = vec![record("1.25", 'a')];
        let unreadable = [("10.0.0.1:5000/mirror".to_string(), "HTTP 500".to_string())];
        let p = plan_replicas(&want, &[], &ledger, &unreadable, &[]);
        assert!(
            p.actions
                .iter()
                .all(|a| matches!(a, ReplicaAction::Push { .. }))
        );
        assert_eq!(p.failures.len(), 1, "{:?}", p.failures);
    }

    #[test]
    fn failures_and_prune_false_keep_everything() {
        let ledger = vec![record("1.25", 'a')];
        let failed = desired(
            Err(crate::plan::EntryError::Registry {
                reason: "registry down".into(),
            }),
            true,
        );
        assert!(
            plan_replicas(&failed, &[], &ledger, &[], &[])
                .actions
                .is_empty()
        );
        let no_prune = desired(Ok(vec![("nginx:1.26", 'b')]), false);
        let p = plan_replicas(&no_prune, &[], &ledger, &[], &[]);
        assert!(
            p.actions
                .iter()
                .all(|a| matches!(a, ReplicaAction::Push { .. }))
        );
        let mut undeclared = desired(Ok(vec![]), true);
        undeclared.entries[0].repository = "docker.io/library/other".into();
        assert!(
            plan_replicas(&undeclared, &[], &ledger, &[], &[])
                .actions
                .is_empty()
        );
    }

    #[test]
    fn subset_pushes_are_recognised_by_the_ledger() {
        let want = desired(Ok(vec![("nginx:1.26", 'b')]), true);
        let mut rec = record("1.26", 'b');
        rec.pushed_digest = d('c');
        let observed = vec![ReplicaObservation {
            target: rec.target.clone(),
            digest: Ok(Some(d('c'))),
        }];
        let p = plan_replicas(&want, &observed, &[rec], &[], &[]);
        assert_eq!((p.up_to_date, p.actions.len()), (1, 0));
    }
}
