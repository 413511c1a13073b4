//! The plan: a pure diff of what the policy wants (`Desired`) against what the store holds
//! (`Actual`), at a time passed in. No I/O, no clock reads, deterministic order; the
//! executor re-checks each action's precondition when it runs it.

mod budget;
mod diff;
mod freed;
mod model;
mod render;
mod replica;
mod replica_model;
mod replica_referrers;
mod simulate;

pub use diff::plan;
pub use model::{
    Action, Actual, ActualImage, ActualName, Desired, DesiredEntry, DiskBudget, EntryError,
    EntryFailure, Plan, Protected, PruneRules, RemovalLimit, WantedImage,
};
pub use render::{referrers_line, render_text};
pub use replica::{plan_replicas, replica_targets};
pub use replica_model::{
    ReferrerCarry, ReferrersAtSource, ReplicaAction, ReplicaObservation, ReplicaPlan,
    ReplicaRecord, ReplicaTarget, SubjectReferrers,
};
pub use simulate::simulate;

#[cfg(test)]
mod tests;
