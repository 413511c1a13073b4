//! Planner tests: hand-written cases, and properties over random stores and policies —
//! applying a plan converges (replanning yields nothing), and no removal ever touches a
//! wanted name, a recently used image, or a repository whose entry failed.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::oci::{Digest, Reference};

fn d(n: u8) -> Digest {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
        .parse()
        .unwrap()
}

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

fn now() -> Timestamp {
    "2026-11-28T12:00:00Z".parse().unwrap()
}

fn image(target: u8, names: &[(&str, Option<u8>)], hours_ago: i64) -> ActualImage {
    ActualImage {
        target: d(target),
        id: d(target),
        names: names
            .iter()
            .map(|(n, src)| ActualName {
                name: r(n),
                source_digest: src.map(d),
            })
            .collect(),
        foreign: false,
        pulled_at: Some(now() - SignedDuration::from_hours(hours_ago)),
        last_used: None,
        blobs: vec![(d(200 + target), 100)],
        containers: Vec::new(),
        pinned: None,
    }
}

fn entry(repo: &str, wanted: &[(&str, u8)], scope: &[&str]) -> DesiredEntry {
    DesiredEntry {
        label: "policy.yaml:1".into(),
        repository: r(repo).name(),
        wanted: Ok(wanted
            .iter()
            .map(|(n, digest)| WantedImage {
                name: r(n),
                digest: d(*digest),
                also_tag: vec![],
                download: Some(10),
                size: Some(10),
            })
            .collect()),
        scope: scope.iter().map(|s| s.to_string()).collect(),
        platforms: vec![],
    }
}

fn kinds(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| match a {
            Action::Pull { name, .. } => format!("pull {name}"),
            Action::Tag { source, target } => format!("tag {source} {target}"),
            Action::Untag { name, .. } => format!("untag {name}"),
            Action::Remove { id, .. } => format!("remove {}", id.short()),
            Action::PruneBlobs { .. } => "prune".into(),
        })
        .collect()
}

#[test]
fn keep_newest_three_pulls_new_and_removes_oldest() {
    let actual = Actual {
        images: vec![
            image(1, &[("h.io/app:1.0.0", Some(1))], 100),
            image(2, &[("h.io/app:1.1.0", Some(2))], 100),
            image(3, &[("h.io/app:1.2.0", Some(3))], 100),
            image(9, &[("h.io/app:latest", Some(9))], 100),
        ],
        unreferenced_bytes: 0,
        leftover_bytes: 0,
        ..Default::default()
    };
    let desired = Desired {
        entries: vec![entry(
            "h.io/app",
            &[
                ("h.io/app:1.3.0", 4),
                ("h.io/app:1.2.0", 3),
                ("h.io/app:1.1.0", 2),
            ],
            &["1.0.0", "1.1.0", "1.2.0", "1.3.0"],
        )],
        prune: PruneRules {
            dangling: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let p = plan(&desired, &actual, now());
    assert_eq!(
        kinds(&p),
        vec![
            "pull h.io/app:1.3.0",
            format!("remove {}", d(1).short()).as_str()
        ]
    );
    // latest is outside the selector's scope: unmanaged, kept.
    let after = simulate(&p, &actual, now());
    assert!(plan(&desired, &after, now()).is_empty());
}

#[test]
fn failed_entry_protects_its_repository() {
    let actual = Actual {
        images: vec![image(1, &[("h.io/app:1.0.0", Some(1))], 100)],
        unreferenced_bytes: 0,
        leftover_bytes: 0,
        ..Default::default()
    };
    let mut e = entry("h.io/app", &[], &["1.0.0"]);
    e.wanted = Err(crate::plan::EntryError::Registry {
        reason: "cannot reach registry h.io".into(),
    });
    let desired = Desired {
        entries: vec![e],
        prune: PruneRules {
            dangling: true,
            unmanaged_remove: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let p = plan(&desired, &actual, now());
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    assert_eq!(p.failures.len(), 1);
    assert_eq!(p.protected.len(), 1);
}

/// An image a container uses is protected, naming the container, and neither removed,
/// untagged nor evicted, even when the policy drops every name it has.
#[test]
fn images_in_use_are_protected() {
    let mut used = image(1, &[("h.io/a:old", None)], 1000);
    used.containers = vec!["web".into()];
    let desired = Desired {
        prune: PruneRules {
            unmanaged_remove: true,
            dangling: true,
            max_disk: Some(1),
            ..Default::default()
        },
        ..Default::default()
    };
    let actual = Actual {
        images: vec![used],
        ..Default::default()
    };
    let p = plan(&desired, &actual, now());
    assert!(
        p.actions
            .iter()
            .all(|a| !matches!(a, Action::Remove { .. } | Action::Untag { .. })),
        "{:?}",
        p.actions
    );
    assert!(
        p.protected.iter().any(|x| x.reason.contains("web")),
        "{:?}",
        p.protected
    );
}

#[test]
fn keep_within_protects_and_limit_refuses() {
    let actual = Actual {
        images: vec![
            image(1, &[("h.io/a:1", Some(1))], 1),
            image(2, &[("h.io/b:1", Some(2))], 100),
            image(3, &[("h.io/c:1", Some(3))], 100),
        ],
        unreferenced_bytes: 5,
        leftover_bytes: 0,
        ..Default::default()
    };
    let desired = Desired {
        entries: vec![],
        prune: PruneRules {
            dangling: true,
            unmanaged_remove: true,
            keep_within: Some(SignedDuration::from_hours(72)),
            max_removals: Some(1),
            max_disk: None,
        },
        ..Default::default()
    };
    let p = plan(&desired, &actual, now());
    assert_eq!(p.removals(), 2, "{:?}", kinds(&p));
    assert!(p.protected.iter().any(|x| x.name == "h.io/a:1"));
    assert_eq!(p.removal_limit, Some(RemovalLimit { planned: 2, max: 1 }));
    assert!(kinds(&p).contains(&"prune".to_string()));
}

#[test]
fn moved_tag_replaces_and_removes_dangling_old_image() {
    let actual = Actual {
        images: vec![image(1, &[("h.io/app:latest", Some(1))], 100)],
        unreferenced_bytes: 0,
        leftover_bytes: 0,
        ..Default::default()
    };
    let desired = Desired {
        entries: vec![entry("h.io/app", &[("h.io/app:latest", 2)], &[])],
        prune: PruneRules {
            dangling: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let p = plan(&desired, &actual, now());
    assert_eq!(
        kinds(&p),
        vec![
            "pull h.io/app:latest".to_string(),
            format!("remove {}", d(1).short())
        ]
    );
    if let Action::Remove { names, .. } = &p.actions[1] {
        assert!(
            names.is_empty(),
            "the moved name is the pull's, not the removal's"
        );
    }
}

#[test]
fn also_tag_retags_once() {
    let actual = Actual {
        images: vec![image(
            1,
            &[(
                "h.io/app@sha256:0101010101010101010101010101010101010101010101010101010101010101",
                Some(1),
            )],
            100,
        )],
        unreferenced_bytes: 0,
        leftover_bytes: 0,
        ..Default::default()
    };
    let mut e = entry(
        "h.io/app",
        &[(
            "h.io/app@sha256:0101010101010101010101010101010101010101010101010101010101010101",
            1,
        )],
        &[],
    );
    if let Ok(w) = &mut e.wanted {
        w[0].also_tag = vec![r("local/base:stable")];
    }
    let desired = Desired {
        entries: vec![e],
        prune: PruneRules::default(),
        ..Default::default()
    };
    let p = plan(&desired, &actual, now());
    assert_eq!(
        kinds(&p),
        vec![
            "tag h.io/app@sha256:0101010101010101010101010101010101010101010101010101010101010101 docker.io/local/base:stable"
        ]
    );
    let after = simulate(&p, &actual, now());
    assert!(plan(&desired, &after, now()).is_empty());
}

/// Over the budget, unwanted images go least recently used first, and only until the store
/// fits: a base layer two evicted images share is freed once, with the second of them.
#[test]
fn disk_budget_evicts_least_recently_used_first() {
    let mut old = image(2, &[("h.io/old:1", Some(2))], 100);
    let mut older = image(3, &[("h.io/older:1", Some(3))], 200);
    old.blobs.push((d(250), 50));
    older.blobs.push((d(250), 50));
    let actual = Actual {
        images: vec![
            image(1, &[("h.io/app:1", Some(1))], 300),
            old,
            older,
            image(4, &[("h.io/new:1", Some(4))], 10),
        ],
        ..Default::default()
    };
    let desired = Desired {
        entries: vec![entry("h.io/app", &[("h.io/app:1", 1)], &["1"])],
        prune: PruneRules {
            max_disk: Some(300),
            ..Default::default()
        },
        ..Default::default()
    };
    let p = plan(&desired, &actual, now());
    // 450 bytes: the wanted image (the oldest of all) stays; h.io/older goes (frees 100,
    // the shared base stays), then h.io/old (frees 100 + 50); h.io/new is not needed.
    assert_eq!(
        kinds(&p),
        vec![
            format!("remove {}", d(3).short()),
            format!("remove {}", d(2).short())
        ]
    );
    let freed: Vec<u64> = p
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove { bytes, .. } => Some(*bytes),
            _ => None,
        })
        .collect();
    assert_eq!(freed, [100, 150]);
    assert_eq!(
        p.disk,
        Some(DiskBudget {
            budget: 300,
            projected: 450,
            after_evictions: 200,
            evicted: 2,
            fits: true
        })
    );
    let after = simulate(&p, &actual, now());
    assert!(plan(&desired, &after, now()).is_empty());
}

/// A budget never evicts a wanted, recent, foreign or failed-entry image: the plan says the
/// store does not fit instead.
#[test]
fn disk_budget_respects_the_safety_rules() {
    let mut foreign = image(3, &[("h.io/theirs:1", None)], 100);
    foreign.foreign = true;
    let actual = Actual {
        images: vec![
            image(1, &[("h.io/app:1", Some(1))], 100),
            image(2, &[("h.io/fresh:1", Some(2))], 1),
            foreign,
            image(4, &[("h.io/down:1", Some(4))], 100),
        ],
        ..Default::default()
    };
    let mut down = entry("h.io/down", &[], &["1"]);
    down.wanted = Err(crate::plan::EntryError::Registry {
        reason: "cannot reach registry h.io".into(),
    });
    let desired = Desired {
        entries: vec![entry("h.io/app", &[("h.io/app:1", 1)], &["1"]), down],
        prune: PruneRules {
            keep_within: Some(SignedDuration::from_hours(24)),
            max_disk: Some(10),
            ..Default::default()
        },
        ..Default::default()
    };
    let p = plan(&desired, &actual, now());
    assert!(p.actions.is_empty(), "{:?}", kinds(&p));
    let disk = p.disk.as_ref().unwrap();
    assert!(!disk.fits);
    assert_eq!((disk.projected, disk.evicted), (400, 0));
    let text = render_text(&p, &|b| format!("{b}B"));
    assert!(text.contains("exceeds prune.max_disk (10B)"), "{text}");
}

const REPOS: [&str; 2] = ["h.io/a", "h.io/b"];
const TAGS: [&str; 4] = ["1", "2", "3", "4"];

fn name(repo: usize, tag: usize) -> String {
    format!("{}:{}", REPOS[repo], TAGS[tag])
}

prop_compose! {
    fn arb_actual()(
        slots in proptest::collection::vec((0usize..6, proptest::option::of(1u8..6)), 8),
        ages in proptest::collection::vec(0i64..200, 6),
        foreign in proptest::collection::vec(proptest::bool::weighted(0.1), 6),
        unreferenced in 0u64..3,
    ) -> Actual {
        // slot i is the name (repo i/4, tag i%4); its value says which image holds it (6 = none).
        let mut images: Vec<ActualImage> = (0..6u8)
            .map(|k| ActualImage {
                target: d(100 + k),
                id: d(100 + k),
                names: vec![],
                foreign: foreign[k as usize],
                pulled_at: Some(now() - SignedDuration::from_hours(ages[k as usize])),
                last_used: None,
                // Its own layer, and a base layer the even ones share.
                blobs: if k % 2 == 0 { vec![(d(200 + k), 10), (d(250), 5)] } else { vec![(d(200 + k), 10)] },
                containers: Vec::new(),
                        pinned: None,
            })
            .collect();
        for (i, (holder, src)) in slots.into_iter().enumerate() {
            if holder < 6 {
                images[holder].names.push(ActualName { name: r(&name(i / 4, i % 4)), source_digest: src.map(d) });
            }
        }
        Actual { images, unreferenced_bytes: unreferenced, leftover_bytes: 0, replicas: Vec::new(), pushed: Vec::new(), unreadable_ledgers: Vec::new(), referrers: Vec::new() }
    }
}

prop_compose! {
    fn arb_desired()(
        wanted in proptest::collection::vec(proptest::option::of(1u8..6), 8),
        scope in proptest::collection::vec(any::<bool>(), 8),
        failed in proptest::collection::vec(proptest::bool::weighted(0.2), 2),
        dangling in any::<bool>(),
        unmanaged_remove in any::<bool>(),
        keep_within in proptest::option::of(0i64..100),
        max_disk in proptest::option::of(0u64..80),
    ) -> Desired {
        let entries = (0..2)
            .map(|repo| {
                let mut e = DesiredEntry {
                    label: format!("p.yaml:{repo}"),
                    repository: r(REPOS[repo]).name(),
                    wanted: Ok((0..4)
                        .filter_map(|t| wanted[repo * 4 + t].map(|dg| WantedImage {
                            name: r(&name(repo, t)), digest: d(dg), also_tag: vec![], download: None, size: None,
                        }))
                        .collect()),
                    scope: (0..4).filter(|t| scope[repo * 4 + t]).map(|t| TAGS[t].to_string()).collect(),
                    platforms: vec![],
                };
                if failed[repo] { e.wanted = Err(crate::plan::EntryError::Registry { reason: "registry down".into() }); }
                e
            })
            .collect();
        Desired {
            entries,
            prune: PruneRules {
                dangling,
                unmanaged_remove,
                keep_within: keep_within.map(SignedDuration::from_hours),
                max_removals: None,
                max_disk,
            },
            replicas: Vec::new(),
        }
    }
}

proptest! {
    #[test]
    fn applying_a_plan_converges(actual in arb_actual(), desired in arb_desired()) {
        let first = plan(&desired, &actual, now());
        let after = simulate(&first, &actual, now());
        let second = plan(&desired, &after, now());
        prop_assert!(second.is_empty(), "first: {:?}\nsecond: {:?}", kinds(&first), kinds(&second));
    }

    #[test]
    fn removals_respect_the_safety_rules(actual in arb_actual(), desired in arb_desired(), max in 0usize..4) {
        let mut desired = desired;
        desired.prune.max_removals = Some(max);
        let p = plan(&desired, &actual, now());
        let wanted: BTreeSet<String> = desired.entries.iter()
            .filter_map(|e| e.wanted.as_ref().ok())
            .flatten()
            .map(|w| w.name.to_string())
            .collect();
        let failed: BTreeSet<&str> = desired.entries.iter().filter(|e| e.wanted.is_err()).map(|e| e.repository.as_str()).collect();
        for a in &p.actions {
            let (names, id) = match a {
                Action::Untag { name, id, .. } => (vec![name.clone()], id),
                Action::Remove { names, id, .. } => (names.clone(), id),
                _ => continue,
            };
            let img = actual.images.iter().find(|i| &i.id == id).unwrap();
            prop_assert!(!(img.foreign && matches!(a, Action::Remove { .. })), "a foreign image was removed");
            if let Some(window) = desired.prune.keep_within {
                prop_assert!(now().duration_since(img.pulled_at.unwrap()) >= window, "keep_within violated");
            }
            for n in img.names.iter().map(|n| &n.name).filter(|n| names.contains(n)) {
                prop_assert!(!wanted.contains(&n.to_string()), "a wanted name was removed");
                prop_assert!(!failed.contains(n.name().as_str()), "a failed entry's repository was touched");
            }
        }
        prop_assert_eq!(p.removal_limit.is_some(), p.removals() > max);
    }

    #[test]
    fn a_budget_that_fits_is_kept(actual in arb_actual(), desired in arb_desired()) {
        let p = plan(&desired, &actual, now());
        let (Some(disk), None) = (&p.disk, &p.removal_limit) else { return Ok(()) };
        // Count the store after the plan independently: each distinct blob once.
        let after = simulate(&p, &actual, now());
        let mut blobs = std::collections::BTreeMap::new();
        for img in &after.images {
            blobs.extend(img.blobs.iter().cloned());
        }
        let size = blobs.values().sum::<u64>() + after.unreferenced_bytes;
        prop_assert_eq!(size, disk.after_evictions);
        prop_assert_eq!(disk.fits, size <= disk.budget);
    }
}

/// Ordinary removals count freed bytes per blob, as the executor's garbage collection
/// deletes them: a layer two removed images share once (with the last of them), a layer an
/// image that stays needs not at all.
#[test]
fn removals_free_shared_layers_once_and_kept_ones_never() {
    let mut x = image(2, &[("h.io/x:1", None)], 100);
    let mut y = image(3, &[("h.io/y:1", None)], 100);
    let mut app = image(1, &[("h.io/app:1", Some(1))], 100);
    for img in [&mut x, &mut y] {
        img.blobs.push((d(250), 50));
        img.blobs.push((d(251), 30));
    }
    app.blobs.push((d(251), 30));
    let actual = Actual {
        images: vec![app, x, y],
        ..Default::default()
    };
    let desired = Desired {
        entries: vec![entry("h.io/app", &[("h.io/app:1", 1)], &["1"])],
        prune: PruneRules {
            unmanaged_remove: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let p = plan(&desired, &actual, now());
    let freed: Vec<u64> = p
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove { bytes, .. } => Some(*bytes),
            _ => None,
        })
        .collect();
    assert_eq!(freed, [100, 150]);
}
