//! Review tests on hand-made expansions: what hosts do with a dropped name (the planner's
//! rules, restated), pins and `also_tag` names that move, and the warnings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::*;
use crate::oci::{Digest, Platform, Reference};
use crate::plan::{Desired, DesiredEntry, Plan, PruneRules, RemovalLimit, WantedImage};
use crate::policy::{Defaults, ImageSpec, Origin, Policy, PruneSpec, Unmanaged};

fn d(n: u8) -> Digest {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
        .parse()
        .unwrap()
}

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

fn policy(unmanaged: Unmanaged, max_removals: usize) -> Policy {
    Policy {
        version: 1,
        store: None,
        registries: BTreeMap::new(),
        defaults: Defaults::default(),
        images: Vec::new(),
        prune: PruneSpec {
            unmanaged,
            max_removals: Some(max_removals),
            ..PruneSpec::default()
        },
        schedule: None,
        replicate: Vec::new(),
    }
}

fn spec(name: &str, tags: &[&str]) -> ImageSpec {
    ImageSpec {
        name: r(name),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        selector: None,
        platforms: vec![Platform::new("linux", "amd64", None)],
        also_tag: Vec::new(),
        origin: Origin {
            file: PathBuf::from("p.yaml"),
            line: 1,
            column: 1,
        },
    }
}

/// An entry wanting `names` (name, digest), with `scope` tags; `Err` when `failed`.
fn entry(repo: &str, names: &[(&str, u8)], scope: &[&str], failed: bool) -> DesiredEntry {
    DesiredEntry {
        label: "p.yaml:1:1".into(),
        repository: r(repo).name(),
        wanted: if failed {
            Err(crate::plan::EntryError::Registry {
                reason: "registry unreachable".into(),
            })
        } else {
            Ok(names
                .iter()
                .map(|(n, dg)| WantedImage {
                    name: r(n),
                    digest: d(*dg),
                    also_tag: Vec::new(),
                    download: None,
                    size: Some(100),
                })
                .collect())
        },
        scope: scope.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
        platforms: Vec::new(),
    }
}

fn desired(entries: Vec<DesiredEntry>, p: &Policy) -> Desired {
    Desired {
        entries,
        prune: PruneRules {
            unmanaged_remove: p.prune.unmanaged == Unmanaged::Remove,
            max_removals: p.prune.max_removals,
            ..PruneRules::default()
        },
        replicas: Vec::new(),
    }
}

fn run(old: (&Policy, Desired), new: (&Policy, Desired)) -> PolicyDiff {
    diff_policies(
        Side {
            policy: old.0,
            desired: &old.1,
        },
        Side {
            policy: new.0,
            desired: &new.1,
        },
    )
}

fn fate_of(diff: &PolicyDiff, name: &str) -> Fate {
    diff.repositories
        .iter()
        .flat_map(|r| &r.removed)
        .find(|x| x.name == r(name))
        .unwrap_or_else(|| panic!("{name} not removed in {diff:#?}"))
        .fate
}

/// A dropped name's fate follows the planner: in a selector's scope → retention; outside
/// every scope → removed only with `unmanaged: remove`; in a repository whose new entry
/// failed → left alone.
#[test]
fn fates_follow_the_planners_rules() {
    let old_p = policy(Unmanaged::Keep, 50);
    let old = desired(
        vec![
            entry(
                "reg.io/app",
                &[("reg.io/app:1.1.0", 1), ("reg.io/app:1.2.0", 2)],
                &["1.1.0", "1.2.0"],
                false,
            ),
            entry("reg.io/tools", &[("reg.io/tools:a", 3)], &[], false),
            entry("reg.io/down", &[("reg.io/down:1", 4)], &[], false),
        ],
        &old_p,
    );
    for (unmanaged, tools_fate) in [
        (Unmanaged::Keep, Fate::KeptUnmanaged),
        (Unmanaged::Remove, Fate::UnmanagedRemove),
    ] {
        let new_p = policy(unmanaged, 50);
        let new = desired(
            vec![
                entry(
                    "reg.io/app",
                    &[("reg.io/app:1.2.0", 2)],
                    &["1.1.0", "1.2.0"],
                    false,
                ),
                entry("reg.io/down", &[], &[], true),
            ],
            &new_p,
        );
        let diff = run((&old_p, old.clone()), (&new_p, new));
        assert_eq!(fate_of(&diff, "reg.io/app:1.1.0"), Fate::Retention);
        assert_eq!(fate_of(&diff, "reg.io/tools:a"), tools_fate);
        assert_eq!(fate_of(&diff, "reg.io/down:1"), Fate::LeftAlone);
        assert_eq!(diff.failures.len(), 1, "{diff:#?}");
        assert_eq!(diff.failures[0].policy, "new");
    }
}

/// One pin replaced by another reads as one moved digest (keeping what happens to the
/// old pin); an `also_tag` name pointed at another image reads as moved too.
#[test]
fn moved_pins_and_also_tags() {
    let p = policy(Unmanaged::Keep, 50);
    let mut old_e = entry(
        "reg.io/base",
        &[(&format!("reg.io/base@{}", d(1)), 1)],
        &[],
        false,
    );
    let mut new_e = entry(
        "reg.io/base",
        &[(&format!("reg.io/base@{}", d(2)), 2)],
        &[],
        false,
    );
    for (e, _) in [(&mut old_e, 1), (&mut new_e, 2)] {
        if let Ok(w) = &mut e.wanted {
            w[0].also_tag = vec![r("local.io/base:stable")];
        }
    }
    let diff = run(
        (&p, desired(vec![old_e], &p)),
        (&p, desired(vec![new_e], &p)),
    );
    let changed: Vec<&Changed> = diff.repositories.iter().flat_map(|r| &r.changed).collect();
    assert_eq!(changed.len(), 2, "{diff:#?}");
    let pin = changed.iter().find(|c| c.old_pin.is_some()).unwrap();
    assert_eq!(pin.name.to_string(), "reg.io/base");
    assert_eq!((&pin.old_digest, &pin.new_digest), (&d(1), &d(2)));
    assert_eq!(pin.old_pin, Some(Fate::KeptUnmanaged));
    let tag = changed
        .iter()
        .find(|c| c.name == r("local.io/base:stable"))
        .unwrap();
    assert_eq!((&tag.old_digest, tag.old_pin), (&d(1), None));
    assert_eq!(diff.summary.added + diff.summary.removed, 0);
}

/// Dropping more names than max_removals is a warning; so are removals over the limit on
/// a reported host and a dropped name a container there uses.
#[test]
fn warnings() {
    let old_p = policy(Unmanaged::Keep, 1);
    let old = desired(
        vec![entry(
            "reg.io/app",
            &[
                ("reg.io/app:1", 1),
                ("reg.io/app:2", 2),
                ("reg.io/app:3", 3),
            ],
            &["1", "2", "3"],
            false,
        )],
        &old_p,
    );
    let new = desired(
        vec![entry(
            "reg.io/app",
            &[("reg.io/app:3", 3)],
            &["1", "2", "3"],
            false,
        )],
        &old_p,
    );
    let mut diff = run((&old_p, old), (&old_p, new));
    assert_eq!(diff.warnings.len(), 1, "{:?}", diff.warnings);
    assert!(
        diff.warnings[0].contains("drops 2 names"),
        "{:?}",
        diff.warnings
    );
    let plan = Plan {
        removal_limit: Some(RemovalLimit { planned: 2, max: 1 }),
        ..Plan::default()
    };
    let used = BTreeMap::from([(r("reg.io/app:1"), vec!["web".to_string()])]);
    diff.check_host(
        "h.json".into(),
        "node-7".into(),
        "2026-12-06T00:00:00Z".parse().unwrap(),
        &used,
        &plan,
    );
    assert_eq!(diff.hosts[0].in_use.len(), 1);
    assert_eq!(diff.warnings.len(), 3, "{:?}", diff.warnings);
    assert!(diff.warnings[1].starts_with("node-7: 2 removals exceed prune.max_removals (1)"));
    assert!(
        diff.warnings[2].contains("reg.io/app:1 is no longer wanted but container web uses it")
    );
    let md = diff_markdown(&diff, &|b| format!("{b}B"));
    let counts = md.find("no longer wanted").unwrap();
    let alert = md.find("> [!WARNING]").unwrap();
    let removals = md.find("**Removed on hosts**").unwrap();
    assert!(counts < alert && alert < removals, "{md}");
}

/// Long detail folds into `<details>`; short detail does not.
#[test]
fn long_detail_folds() {
    let p = policy(Unmanaged::Keep, 50);
    let many: Vec<(String, u8)> = (0..20).map(|i| (format!("reg.io/app:{i}"), i)).collect();
    let refs: Vec<(&str, u8)> = many.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    let short = run(
        (&p, desired(vec![], &p)),
        (
            &p,
            desired(vec![entry("reg.io/app", &refs[..2], &[], false)], &p),
        ),
    );
    let long = run(
        (&p, desired(vec![], &p)),
        (
            &p,
            desired(vec![entry("reg.io/app", &refs, &[], false)], &p),
        ),
    );
    let size = |b: u64| format!("{b}B");
    assert!(!diff_markdown(&short, &size).contains("<details>"));
    assert!(diff_markdown(&long, &size).contains("<details><summary>Details ("));
}

/// Entry settings compare per repository, the rest globally; a setting only one side has
/// is `null` on the other.
#[test]
fn settings_changes() {
    let mut old_p = policy(Unmanaged::Keep, 50);
    old_p.images = vec![spec("reg.io/tools", &["a"])];
    let mut new_p = policy(Unmanaged::Remove, 50);
    new_p.images = vec![
        spec("reg.io/tools", &["a", "b"]),
        spec("reg.io/new", &["1"]),
    ];
    new_p.schedule = Some("@daily".into());
    let diff = run(
        (&old_p, desired(vec![], &old_p)),
        (&new_p, desired(vec![], &new_p)),
    );
    let repo = |name: &str| {
        diff.repositories
            .iter()
            .find(|x| x.repository == r(name).name())
            .unwrap_or_else(|| panic!("{name}: {diff:#?}"))
    };
    assert_eq!(
        repo("reg.io/tools").settings,
        vec![SettingChange {
            key: "tags".into(),
            old: Some("a".into()),
            new: Some("a, b".into())
        }]
    );
    assert_eq!(repo("reg.io/new").settings[0].old, None);
    let keys: Vec<&str> = diff.settings.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["prune.unmanaged", "schedule"]);
    assert_eq!(
        diff.summary.settings,
        2 + 1 + repo("reg.io/new").settings.len()
    );
}
