//! Counting referrers in the plan: for each image a target receives or already holds, how
//! many signatures and attestations its source has for what that target holds, and how
//! many of them the target's ledger does not show carried there yet. Pure: the lookups at
//! the sources are an input.

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
    for s in subjects.iter().filter(|s| whole || held_alone(target, s)) {
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
