//! Replication's part of the planner's inputs and output: the targets, what they hold now,
//! the ledger of imagectl's own pushes and the steps planned. Apart from the planning in
//! `replica.rs` because `Desired`, `Actual` and `Plan` hold these while that planning reads
//! `Desired`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::oci::{Digest, Platform, Reference};

/// A registry every wanted image is pushed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaTarget {
    /// The target registry (`host[:port]`).
    pub registry: String,
    /// Path prepended to every source repository path, or empty.
    pub prefix: String,
    /// Platforms to push; empty: the whole image with the source's digests.
    pub platforms: Vec<Platform>,
    /// Delete tags imagectl pushed here once no longer wanted.
    pub prune: bool,
    /// The tag of this policy's ledger in [`ReplicaTarget::ledger_repository`].
    pub ledger: String,
    /// Carry each image's referrers (signatures, attestations, SBOMs) along.
    pub referrers: bool,
}

impl ReplicaTarget {
    /// `TARGET/PREFIX/PATH:TAG` (or `@digest` for a pinned source). `None` when the result
    /// is not a valid reference (a path grown too long).
    pub fn target_of(&self, source: &Reference) -> Option<Reference> {
        let mut name = self.registry.clone();
        for part in [self.prefix.as_str(), source.repository()] {
            if !part.is_empty() {
                name.push('/');
                name.push_str(part);
            }
        }
        let target = Reference::parse_loose(&name).ok()?;
        if target.tag().is_some() || target.digest().is_some() {
            return None;
        }
        match (source.digest(), source.tag()) {
            (Some(d), _) => Some(target.with_digest(d.clone())),
            (None, Some(t)) => target.with_tag(t).ok(),
            (None, None) => None,
        }
    }

    /// The repository holding the ledgers of pushed tags: `host[:port][/prefix]/imagectl-ledger`,
    /// beside the replicas so that whoever can push there can keep the ledger, and one name
    /// no source repository maps to unless it is itself called `imagectl-ledger`.
    pub fn ledger_repository(&self) -> String {
        format!("{}/{LEDGER_REPOSITORY}", self.label())
    }

    /// `host[:port][/prefix]`, as the policy writes it.
    pub fn label(&self) -> String {
        if self.prefix.is_empty() {
            self.registry.clone()
        } else {
            format!("{}/{}", self.registry, self.prefix)
        }
    }
}

/// The last path component of the ledger repository in a target.
pub const LEDGER_REPOSITORY: &str = "imagectl-ledger";

/// A tag imagectl pushed to a target, remembered so that only its own pushes are ever
/// deleted there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaRecord {
    /// The tag in the target (`172.16.0.120:30002/mirror/library/nginx:1.25`).
    pub target: Reference,
    /// The source tag it was copied from.
    pub source: Reference,
    /// What the source pointed at when it was copied.
    pub source_digest: Digest,
    /// What the target tag was made to point at (differs from `source_digest` only when
    /// the target keeps a subset of platforms).
    pub pushed_digest: Digest,
    /// Referrer manifests imagectl carried to the target with it: deleted with the tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<Digest>,
    /// Referrer tags imagectl carried with it (cosign's `.sig`, the fallback index) and
    /// what each held: deleted with the tag.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub referrer_tags: BTreeMap<String, Digest>,
}

/// An image whose referrers the executor carries to a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReferrerCarry {
    /// The source tag or pin.
    pub source: Reference,
    /// The source's digest.
    pub digest: Digest,
    /// The target tag or pin.
    pub target: Reference,
    /// What the target holds when it is already up to date; `None` for an image pushed in
    /// this run (its pushed digest is known once pushed).
    pub current: Option<Digest>,
    /// The target's platforms (empty: the whole image), as `ReplicaAction::Push` has them.
    #[serde(skip)]
    pub platforms: Vec<Platform>,
    /// Referrers (manifests and cosign tags) at the source for what the target holds,
    /// looked up while planning; `None` when the lookup failed.
    pub at_source: Option<usize>,
    /// Of those, how many the target's ledger does not show carried there: what apply
    /// copies (a referrer the target already has costs it one HEAD and no upload).
    pub to_carry: usize,
}

/// The referrers of one source image, looked up at its source before planning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferrersAtSource {
    /// The source tag or pin.
    pub source: Reference,
    /// What it pointed at when looked up.
    pub digest: Digest,
    /// Per manifest of the image (the index and each platform's) with referrers, or why
    /// they could not be looked up.
    pub found: Result<Vec<SubjectReferrers>, String>,
}

/// The referrers of one manifest of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectReferrers {
    /// The manifest they refer to.
    pub subject: Digest,
    /// Its platform, for a platform manifest of an index; `None` for the image's top.
    pub platform: Option<Platform>,
    /// Referrer manifests (by the referrers API or the fallback index).
    pub manifests: Vec<Digest>,
    /// cosign-style tags (`sha256-<hex>.sig`) and what they hold.
    pub tags: BTreeMap<String, Digest>,
}

impl SubjectReferrers {
    /// Referrers counted the way a plan shows them: manifests and cosign tags.
    pub fn count(&self) -> usize {
        self.manifests.len() + self.tags.len()
    }
}

/// What a target tag points at now, as a HEAD found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaObservation {
    /// The target tag (or digest reference).
    pub target: Reference,
    /// Its digest; `Ok(None)` when the target does not have it.
    pub digest: Result<Option<Digest>, String>,
}

/// One replication step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ReplicaAction {
    /// Copy `source` (at `digest`) to `target`.
    Push {
        /// The source tag or pin.
        source: Reference,
        /// The source's digest, from the expansion's HEAD.
        digest: Digest,
        /// Where it goes.
        target: Reference,
        /// What the target tag points at now, if anything.
        replaces: Option<Digest>,
        /// Platforms to push; empty: all.
        platforms: Vec<String>,
    },
    /// Delete a tag imagectl pushed that the policy no longer wants.
    DeleteTag {
        /// The target tag.
        target: Reference,
        /// What imagectl pushed there (the executor deletes only if it still points there).
        digest: Digest,
        /// Why.
        reason: String,
    },
}

/// The replication part of a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReplicaPlan {
    /// Pushes and deletions, pushes first.
    pub actions: Vec<ReplicaAction>,
    /// Target tags already as wanted.
    pub up_to_date: usize,
    /// Targets that could not be checked or mapped (nothing is pushed to or deleted from
    /// those tags), and images whose referrers could not be looked up (none are carried).
    pub failures: Vec<String>,
    /// Images whose referrers are carried (pushed or up to date, on targets that carry
    /// them), with how many the source has and how many the target lacks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<ReferrerCarry>,
}
