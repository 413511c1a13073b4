//! The planner's inputs and output. Everything serialises: `plan --json` prints a `Plan`.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::replica_model::{
    ReferrersAtSource, ReplicaObservation, ReplicaPlan, ReplicaRecord, ReplicaTarget,
};
use crate::oci::{Digest, Platform, Reference};

/// What the policy wants, expanded against the registries.
#[derive(Clone, Debug, Default)]
pub struct Desired {
    /// One per policy image entry, in policy order.
    pub entries: Vec<DesiredEntry>,
    /// What may be removed.
    pub prune: PruneRules,
    /// Registries every wanted image is pushed to.
    pub replicas: Vec<ReplicaTarget>,
}

/// The removal rules of the policy.
#[derive(Clone, Debug, Default)]
pub struct PruneRules {
    /// Remove untagged images and unreferenced blobs.
    pub dangling: bool,
    /// Remove images no entry declares.
    pub unmanaged_remove: bool,
    /// Never remove what was pulled or used this recently.
    pub keep_within: Option<SignedDuration>,
    /// Refuse a run that would remove more (images plus names).
    pub max_removals: Option<usize>,
    /// Bytes the store may hold after a run; above it, images the policy does not want are
    /// evicted, least recently used first.
    pub max_disk: Option<u64>,
}

/// One policy entry after expansion.
#[derive(Clone, Debug)]
pub struct DesiredEntry {
    /// Where the entry is written (`file:line`), for messages.
    pub label: String,
    /// `registry/repository`.
    pub repository: String,
    /// The images wanted; `Err` when the registry could not be asked (then nothing in this
    /// repository is removed).
    pub wanted: Result<Vec<WantedImage>, EntryError>,
    /// Tags of this repository the entry's selector governs: those it matches but does not
    /// keep are superseded and removed. Tags outside every entry's scope are unmanaged.
    pub scope: BTreeSet<String>,
    /// Platforms to keep.
    pub platforms: Vec<Platform>,
}

/// Why an entry's images could not be determined. The planner treats every kind alike
/// (the repository is left alone); the kinds let a reader of the plan tell a tag that is
/// gone from a registry that could not be asked. The pure core holds no registry error
/// type, so a registry failure is carried as the client's one-line message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// The registry answered that a wanted tag (or pinned digest) does not exist.
    #[error("{name} not found in the registry")]
    NotFound {
        /// The wanted name.
        name: Reference,
    },
    /// Listing tags or resolving a tag failed (unreachable, refused, bad answer).
    #[error("{reason}")]
    Registry {
        /// The registry client's message.
        reason: String,
    },
    /// A selected tag does not make a valid reference with the repository.
    #[error("{reason}")]
    InvalidTag {
        /// Why the reference is invalid.
        reason: String,
    },
}

impl EntryError {
    /// Whether the registry said the name does not exist (rather than failing to answer).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

/// One image the policy wants, as the registry serves it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WantedImage {
    /// The name it is stored under (`repo:tag`, or `repo@digest` for a pin).
    pub name: Reference,
    /// What that name resolves to at the registry.
    pub digest: Digest,
    /// Other names the image must also have.
    pub also_tag: Vec<Reference>,
    /// Bytes a pull would download (blobs the store lacks), when the expander looked;
    /// blobs shared with an image listed before it count there, not here.
    pub download: Option<u64>,
    /// Bytes of the blobs the store lacks for this image alone, shared or not: what a
    /// review shows for a newly wanted name.
    pub size: Option<u64>,
}

/// What the store holds, reduced to what the planner needs.
#[derive(Clone, Debug, Default)]
pub struct Actual {
    /// Images.
    pub images: Vec<ActualImage>,
    /// Bytes of blobs no image references.
    pub unreferenced_bytes: u64,
    /// Bytes that killed writers left in the store's temporary space.
    pub leftover_bytes: u64,
    /// What the replica tags point at now (looked up for the run).
    pub replicas: Vec<ReplicaObservation>,
    /// The tags imagectl pushed to replicas in earlier runs.
    pub pushed: Vec<ReplicaRecord>,
    /// Replica targets whose ledger could not be read (label, why): nothing is deleted there.
    pub unreadable_ledgers: Vec<(String, String)>,
    /// The referrers of the wanted images at their sources (empty when no target carries
    /// them): what the plan counts.
    pub referrers: Vec<ReferrersAtSource>,
}

/// One stored image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActualImage {
    /// The stored manifest or index: what identifies the image in the store.
    pub target: Digest,
    /// The image ID.
    pub id: Digest,
    /// Its names.
    pub names: Vec<ActualName>,
    /// Named by another tool in a way imagectl does not manage: never removed.
    pub foreign: bool,
    /// When it was pulled.
    pub pulled_at: Option<Timestamp>,
    /// When it was last used.
    pub last_used: Option<Timestamp>,
    /// Every blob it references, with its size (shared blobs too): what the disk budget
    /// counts, so that evicting images that share a layer frees that layer exactly once.
    pub blobs: Vec<(Digest, u64)>,
    /// Containers (running or stopped) that use it, by name: such an image is never
    /// removed, untagged or evicted.
    pub containers: Vec<String>,
    /// Why the store forbids removing it otherwise (CRI's pin, the kubelet's minimum age):
    /// never removed, untagged or evicted either.
    pub pinned: Option<String>,
}

/// One name of a stored image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActualName {
    /// The name.
    pub name: Reference,
    /// What it resolved to at the registry when pulled (none for local tags).
    pub source_digest: Option<Digest>,
}

/// The plan.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    /// What to do, in execution order.
    pub actions: Vec<Action>,
    /// Entries that could not be resolved: their repositories are left alone.
    pub failures: Vec<EntryFailure>,
    /// What would have been removed but is protected, and why.
    pub protected: Vec<Protected>,
    /// Set when the removals exceed `max_removals`: the executor removes nothing.
    pub removal_limit: Option<RemovalLimit>,
    /// Pushes to and deletions from replication targets.
    pub replication: ReplicaPlan,
    /// The store's size against `prune.max_disk`, when the policy sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskBudget>,
}

/// The store's projected size against the policy's disk budget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiskBudget {
    /// `prune.max_disk`, in bytes.
    pub budget: u64,
    /// Bytes the store would hold after this plan's pulls and ordinary removals (downloads
    /// of unknown size count as 0).
    pub projected: u64,
    /// Bytes it would hold after the evictions too.
    pub after_evictions: u64,
    /// Images evicted (each is also a `remove` action).
    pub evicted: usize,
    /// Whether `after_evictions` is within the budget. When not, every image the rules let
    /// go is already evicted: what is left is wanted, recent, foreign or protected.
    pub fits: bool,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.replication.actions.is_empty()
    }

    /// How many actions remove something (images or names).
    pub fn removals(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| matches!(a, Action::Untag { .. } | Action::Remove { .. }))
            .count()
    }
}

/// One step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Pull `name` at `digest` (pinned, so the executor needs no second HEAD).
    Pull {
        /// The stored name.
        name: Reference,
        /// What to pull.
        digest: Digest,
        /// The image it replaces under that name, if any.
        replaces: Option<Digest>,
        /// Bytes to download, when known.
        bytes: Option<u64>,
        /// Platforms to keep.
        platforms: Vec<String>,
    },
    /// Give the image named `source` the name `target`.
    Tag {
        /// An existing (or just pulled) name.
        source: Reference,
        /// The new name.
        target: Reference,
    },
    /// Remove one name of an image that keeps others.
    Untag {
        /// The name.
        name: Reference,
        /// The image's ID.
        id: Digest,
        /// Why.
        reason: String,
    },
    /// Remove an image with all its names.
    Remove {
        /// The stored manifest.
        target: Digest,
        /// The image's ID.
        id: Digest,
        /// The names it loses. Names that pulls or tags of this plan move to other images
        /// are not listed: the executor removes the image only if, when it gets there, the
        /// image has no name outside this list (a failed pull keeps its image).
        names: Vec<Reference>,
        /// Bytes freed (its unique blobs).
        bytes: u64,
        /// Why.
        reason: String,
    },
    /// Delete blobs no image references, and what killed writers left behind.
    PruneBlobs {
        /// Bytes of unused blobs freed, as far as known at plan time.
        bytes: u64,
        /// Bytes of killed writers' temporary files freed.
        leftovers: u64,
    },
}

/// An entry whose tags could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryFailure {
    /// `file:line` of the entry.
    pub entry: String,
    /// Its repository.
    pub repository: String,
    /// What went wrong.
    pub error: String,
}

/// Something the rules would remove but a safety rule keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Protected {
    /// The name (or `<none>@id` for a dangling image).
    pub name: String,
    /// Which rule.
    pub reason: String,
}

/// Removals over the limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemovalLimit {
    /// Removals planned.
    pub planned: usize,
    /// The limit.
    pub max: usize,
}
