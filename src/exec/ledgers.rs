//! The ledgers of one run: each replication target's own (read at the start, written at
//! the end) and the store's older local one, whose records of a target move into that
//! target's ledger the first time the run can write it.

use futures_util::future::join_all;

use super::error::ExecError;
use super::ledger::update_ledger;
use super::target_ledger::{LedgerDelta, read_target_ledger, write_target_ledger};
use crate::oci::{Digest, Reference};
use crate::plan::{ReplicaRecord, ReplicaTarget};
use crate::registry::RegistryClient;
use crate::store::ImageStore;

/// One target's ledger as the run found it.
#[derive(Clone, Debug)]
struct TargetState {
    target: ReplicaTarget,
    /// The target's records, or why they could not be read.
    remote: Result<Vec<ReplicaRecord>, String>,
    /// The store's local records of this target (pushes of an imagectl before the ledger
    /// moved into targets, or of a run that could not write the target's ledger).
    local: Vec<ReplicaRecord>,
}

/// What the run knows of imagectl's earlier pushes.
#[derive(Clone, Debug, Default)]
pub struct Ledgers {
    targets: Vec<TargetState>,
    /// Local records of no current target: kept, never acted on.
    elsewhere: Vec<ReplicaRecord>,
}

fn belongs(target: &ReplicaTarget, record: &ReplicaRecord) -> bool {
    target.target_of(&record.source).as_ref() == Some(&record.target)
}

/// Read every target's ledger (concurrently, one manifest GET and one blob GET each),
/// beside `local`, the store's own records (read by [`load_ledger`], or from a host's
/// report).
pub async fn read_ledgers(
    client: &RegistryClient,
    mut local: Vec<ReplicaRecord>,
    targets: &[ReplicaTarget],
) -> Ledgers {
    let remote = join_all(targets.iter().map(|t| read_target_ledger(client, t))).await;
    let mut out = Ledgers::default();
    for (target, remote) in targets.iter().zip(remote) {
        let (mine, rest): (Vec<_>, Vec<_>) = local.into_iter().partition(|r| belongs(target, r));
        local = rest;
        out.targets.push(TargetState {
            target: target.clone(),
            remote: remote
                .map(|(_, records)| records)
                .map_err(|e| e.to_string()),
            local: mine,
        });
    }
    out.elsewhere = local;
    out
}

impl Ledgers {
    /// Every known push: the targets' records, and local ones the target does not have.
    pub fn records(&self) -> Vec<ReplicaRecord> {
        let mut out = Vec::new();
        for t in &self.targets {
            let remote = t.remote.as_deref().unwrap_or_default();
            out.extend(remote.iter().cloned());
            out.extend(
                t.local
                    .iter()
                    .filter(|l| !remote.iter().any(|r| r.target == l.target))
                    .cloned(),
            );
        }
        out.extend(self.elsewhere.iter().cloned());
        out
    }

    /// Targets whose ledger could not be read: label and why.
    pub fn unreadable(&self) -> Vec<(String, String)> {
        self.targets
            .iter()
            .filter_map(|t| {
                t.remote
                    .as_ref()
                    .err()
                    .map(|e| (t.target.label(), e.clone()))
            })
            .collect()
    }

    /// Whether local records wait to move into a readable target's ledger: the run
    /// writes even when it has nothing to push.
    pub fn migration_pending(&self) -> bool {
        self.targets
            .iter()
            .any(|t| t.remote.is_ok() && !t.local.is_empty())
    }

    /// Record a run's pushes and deletions in each target's ledger, moving the store's
    /// local records there. A target whose ledger cannot be written gets them in the
    /// local ledger instead (moved on a later run); its failure is returned.
    pub async fn write(
        &self,
        client: &RegistryClient,
        store: &dyn ImageStore,
        pushed: &[ReplicaRecord],
        forgotten: &[(Reference, Digest)],
    ) -> Result<Vec<String>, ExecError> {
        let mut failures = Vec::new();
        for t in &self.targets {
            let delta = LedgerDelta {
                upsert: pushed
                    .iter()
                    .filter(|r| belongs(&t.target, r))
                    .cloned()
                    .collect(),
                migrate: t.local.clone(),
                forget: forgotten
                    .iter()
                    .filter(|(r, _)| {
                        t.local
                            .iter()
                            .chain(t.remote.as_deref().unwrap_or_default())
                            .any(|rec| rec.target == *r && belongs(&t.target, rec))
                    })
                    .cloned()
                    .collect(),
            };
            if delta.is_empty() {
                continue;
            }
            match write_target_ledger(client, &t.target, &delta).await {
                Ok(()) => {
                    let moved: Vec<Reference> = t.local.iter().map(|r| r.target.clone()).collect();
                    update_ledger(store, &[], &moved).await?;
                }
                Err(e) => {
                    failures.push(format!(
                        "writing the ledger in {}: {e}; its changes are kept in the store until a later run can write it",
                        t.target.label()
                    ));
                    let forget: Vec<Reference> =
                        delta.forget.iter().map(|(r, _)| r.clone()).collect();
                    update_ledger(store, &delta.upsert, &forget).await?;
                }
            }
        }
        Ok(failures)
    }
}
