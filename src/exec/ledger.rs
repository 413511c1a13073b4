//! The ledger of replicated tags: which tags imagectl pushed to which target, kept as a
//! state document in the store, so deletion propagation only ever touches imagectl's own
//! pushes. Updates re-read the file under the store's exclusive lock and apply only their
//! own changes, so concurrent runs do not lose each other's records.

use serde::{Deserialize, Serialize};

use super::error::ExecError;
use crate::oci::Reference;
use crate::plan::ReplicaRecord;
use crate::store::{ImageStore, LockMode};

/// The state document's name in the store.
const LEDGER: &str = "replicated.json";
/// The document's format version.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Doc {
    version: u32,
    pushed: Vec<ReplicaRecord>,
}

/// The recorded pushes; none if the store never replicated.
pub async fn load_ledger(store: &dyn ImageStore) -> Result<Vec<ReplicaRecord>, ExecError> {
    let Some(bytes) = store.read_state(LEDGER).await? else {
        return Ok(Vec::new());
    };
    let doc: Doc = serde_json::from_slice(&bytes).map_err(|e| ExecError::Ledger {
        location: store.location(),
        reason: format!("{LEDGER} is not a ledger this imagectl reads: {e}"),
    })?;
    if doc.version != VERSION {
        return Err(ExecError::Ledger {
            location: store.location(),
            reason: format!(
                "{LEDGER} has version {}, this imagectl reads {VERSION}",
                doc.version
            ),
        });
    }
    Ok(doc.pushed)
}

/// Record `pushed` (replacing earlier records of the same target tags) and forget
/// `forgotten`, atomically.
pub async fn update_ledger(
    store: &dyn ImageStore,
    pushed: &[ReplicaRecord],
    forgotten: &[Reference],
) -> Result<(), ExecError> {
    if pushed.is_empty() && forgotten.is_empty() {
        return Ok(());
    }
    let _lock = store.lock(LockMode::Exclusive).await?;
    let mut records = load_ledger(store).await?;
    records
        .retain(|r| !forgotten.contains(&r.target) && !pushed.iter().any(|p| p.target == r.target));
    records.extend(pushed.iter().cloned());
    records.sort_by_key(|r| r.target.to_string());
    let doc = Doc {
        version: VERSION,
        pushed: records,
    };
    let mut bytes = serde_json::to_vec_pretty(&doc).map_err(|e| ExecError::Ledger {
        location: store.location(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    store.write_state(LEDGER, &bytes).await?;
    Ok(())
}
