//! Effectful operations composed from the registry client and a store: pulling images
//! into the store, copying and replicating them to other registries, and the store-side
//! operations (tag, remove, prune, fsck).

mod apply;
mod apply_failure;
mod blob_fetch;
mod blob_sources;
mod copy;
mod desired;
mod error;
mod expand_pair;
mod fsck;
mod ledger;
mod ledgers;
mod prune;
mod pull;
mod pull_into;
mod pull_observer;
mod referrers;
mod referrers_find;
mod remove;
mod replica_referrers;
mod replicate;
mod select;
mod stored_referrers;
mod tag;
mod target_ledger;

pub use apply::{ActionOutcome, ApplyReport, Outcome, actual_state, apply};
pub use apply_failure::ApplyFailure;
pub use blob_fetch::BlobError;
pub use copy::{BLOBS_PER_REGISTRY, Copier, CopyOutcome, CopyRequest};
pub use desired::{entry_platforms, expand};
pub use error::ExecError;
pub use expand_pair::expand_pair;
pub use fsck::{FsckReport, fsck};

pub use ledger::load_ledger;
pub use ledgers::{Ledgers, read_ledgers};
pub use prune::{PruneReport, prune, prune_candidates};
pub use pull::{PullOptions, PullReport, pull};
pub use pull_into::pull_into;
pub use pull_observer::{PullObserver, PulledImage};
pub use referrers::{CarriedReferrers, KnownReferrers, ReferrerCopier};
pub use referrers_find::{ReferrerFinder, SourceImage, fallback_tag, is_fallback_tag};
pub use remove::remove_images;
pub use replicate::{ReplicationReport, observe_replicas, replicate};
pub use stored_referrers::{fetch_referrers, push_stored_referrers};
pub use tag::tag_image;
pub use target_ledger::{LEDGER_MEDIA_TYPE, TargetLedgerError};
