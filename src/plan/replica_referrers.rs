//! Counting referrers in the plan: for each image a target receives or already holds, how
//! many signatures and attestations its source has for what that target holds, and how
//! many of them the target's ledger does not show carried there yet. Pure: the lookups at
//! the sources are an input.

use std::collections::BTreeSet;

use super::model::WantedImage;
use super::replica_model::{
    ReferrerCarry, ReferrersAtSource, ReplicaRecord, ReplicaTarget, SubjectReferrers,
};
use crate::oci::{Digest, Reference};

/// The carry of `w`'s referrers to `dest` on `target`, which holds `current` (`None`: pushed
/// by this plan). `record`: imagectl's own push of `dest`, if any. A failed lookup adds one
/// line per source image to `failures`.
pub(super) fn referrer_carry(
    target: &ReplicaTarget,
    w: &WantedImage,
    dest: Reference,
    current: Option<Digest>,
    record: Option<&ReplicaRecord>,
    found: &[ReferrersAtSource],
    failures: &mut Vec<String>,
) -> ReferrerCarry {
    let mut carry = ReferrerCarry {
        source: w.name.clone(),
        digest: w.digest.clone(),
        target: dest,
        current,
        platforms: target.platforms.clone(),
        at_source: None,
        to_carry: 0,
    };
    let Some(lookup) = found
        .iter()
        .find(|f| f.source == w.name && f.digest == w.digest)
    else {
        return carry;
    };
    let subjects = match &lookup.found {
        Ok(s) => s,
        Err(why) => {
            let line = format!(
                "the referrers of {} could not be looked up at its registry ({why}), so none are carried",
                w.name
            );
            if !failures.contains(&line) {
                failures.push(line);
            }
            return carry;
        }
    };
    let whole = target.platforms.is_empty() || carry.current.as_ref() == Some(&w.digest);
    let known = record.filter(|r| Some(&r.pushed_digest) == carry.current.as_ref());
    let (mut at_source, mut to_carry) = (0, 0);
    // Referrers of referrers (a signature of an SBOM) count with what they hang from; the
    // lookup lists them after it.
    let mut counted: BTreeSet<&Digest> = BTreeSet::new();
    for s in subjects {
        if !(whole || held_alone(target, s) || counted.contains(&s.subject)) {
            continue;
        }
        counted.extend(s.manifests.iter().chain(s.tags.values()));
        at_source += s.count();
        to_carry += match known {
            None => s.count(),
            Some(r) => {
                s.manifests
                    .iter()
                    .filter(|d| !r.referrers.contains(d))
                    .count()
                    + s.tags
                        .iter()
                        .filter(|(t, d)| r.referrer_tags.get(*t) != Some(*d))
                        .count()
            }
        };
    }
    carry.at_source = Some(at_source);
    carry.to_carry = to_carry;
    carry
}

/// Whether a target keeping only some platforms holds the platform manifest `s` (the
/// source's index itself it never holds).
fn held_alone(target: &ReplicaTarget, s: &SubjectReferrers) -> bool {
    s.platform
        .as_ref()
        .is_some_and(|p| target.platforms.iter().any(|want| want.matches(p)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::oci::Platform;

    fn d(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap()
    }
    fn target(platforms: &[&str]) -> ReplicaTarget {
        ReplicaTarget {
            registry: "10.0.0.1:5000".into(),
            prefix: "mirror".into(),
            platforms: platforms.iter().map(|p| p.parse().unwrap()).collect(),
            prune: true,
            ledger: "default".into(),
            referrers: true,
        }
    }
    fn wanted() -> WantedImage {
        WantedImage {
            name: Reference::parse("h.io/app:1").unwrap(),
            digest: d('a'),
            also_tag: Vec::new(),
            download: None,
            size: None,
        }
    }
    fn dest() -> Reference {
        Reference::parse("10.0.0.1:5000/mirror/app:1").unwrap()
    }
    /// The index signed twice and cosign-signed; its amd64 manifest with an SBOM.
    fn found() -> Vec<ReferrersAtSource> {
        vec![ReferrersAtSource {
            source: wanted().name,
            digest: d('a'),
            found: Ok(vec![
                SubjectReferrers {
                    subject: d('a'),
                    platform: None,
                    manifests: vec![d('5'), d('7')],
                    tags: BTreeMap::from([("sha256-aaa.sig".to_string(), d('c'))]),
                },
                SubjectReferrers {
                    subject: d('b'),
                    platform: Some("linux/amd64".parse::<Platform>().unwrap()),
                    manifests: vec![d('e')],
                    tags: BTreeMap::new(),
                },
            ]),
        }]
    }

    #[test]
    fn counts_what_the_ledger_lacks() {
        let record = ReplicaRecord {
            target: dest(),
            source: wanted().name,
            source_digest: d('a'),
            pushed_digest: d('a'),
            referrers: vec![d('5'), d('e')],
            referrer_tags: BTreeMap::from([("sha256-aaa.sig".to_string(), d('0'))]),
        };
        let mut failures = Vec::new();
        let c = referrer_carry(
            &target(&[]),
            &wanted(),
            dest(),
            Some(d('a')),
            Some(&record),
            &found(),
            &mut failures,
        );
        // `7…` is new and the cosign tag was re-pushed (`c…`, not `0…`).
        assert_eq!((c.at_source, c.to_carry), (Some(4), 2));
        // Pushed by this plan: everything is to carry, whatever an old record says.
        let c = referrer_carry(
            &target(&[]),
            &wanted(),
            dest(),
            None,
            Some(&record),
            &found(),
            &mut failures,
        );
        assert_eq!((c.at_source, c.to_carry), (Some(4), 4));
        assert!(failures.is_empty());
    }

    #[test]
    fn a_platform_target_counts_its_platforms_only() {
        let mut failures = Vec::new();
        let c = referrer_carry(
            &target(&["linux/amd64"]),
            &wanted(),
            dest(),
            None,
            None,
            &found(),
            &mut failures,
        );
        assert_eq!((c.at_source, c.to_carry), (Some(1), 1));
        let c = referrer_carry(
            &target(&["linux/arm64"]),
            &wanted(),
            dest(),
            None,
            None,
            &found(),
            &mut failures,
        );
        assert_eq!((c.at_source, c.to_carry), (Some(0), 0));
    }

    #[test]
    fn a_platform_target_counts_the_referrers_of_its_referrers() {
        let mut lookup = found();
        let subjects = lookup[0].found.as_mut().unwrap();
        // A signature of amd64's SBOM `e…`, and one of the index's signature `5…`.
        for (subject, sig) in [(d('e'), d('f')), (d('5'), d('6'))] {
            subjects.push(SubjectReferrers {
                subject,
                platform: None,
                manifests: vec![sig],
                tags: BTreeMap::new(),
            });
        }
        let mut failures = Vec::new();
        let c = referrer_carry(
            &target(&["linux/amd64"]),
            &wanted(),
            dest(),
            None,
            None,
            &lookup,
            &mut failures,
        );
        assert_eq!((c.at_source, c.to_carry), (Some(2), 2));
        let c = referrer_carry(
            &target(&[]),
            &wanted(),
            dest(),
            None,
            None,
            &lookup,
            &mut failures,
        );
        assert_eq!((c.at_source, c.to_carry), (Some(6), 6));
    }

    #[test]
    fn a_failed_lookup_is_one_failure_and_no_count() {
        let mut lookup = found();
        lookup[0].found = Err("HTTP 500".into());
        let mut failures = Vec::new();
        for t in [target(&[]), target(&["linux/amd64"])] {
            let c = referrer_carry(&t, &wanted(), dest(), None, None, &lookup, &mut failures);
            assert_eq!((c.at_source, c.to_carry), (None, 0));
        }
        assert_eq!(failures.len(), 1, "{failures:?}");
    }
}
