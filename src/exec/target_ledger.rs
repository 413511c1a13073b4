//! The ledger of pushed tags kept in a replication target itself: an OCI artifact (empty
//! config, one JSON layer) tagged with the policy's ledger name in
//! `TARGET[/PREFIX]/imagectl-ledger`, so a run from an empty store, or from another host
//! with the same ledger name, still knows which tags imagectl pushed there.
//!
//! Distribution has no conditional PUT, so a write is read, merge, check, write, verify:
//! the merged document is written only if the tag still points at the base it was merged
//! from (a HEAD just before the PUT), and read back after [`SETTLE`]; a document that no
//! longer carries this run's changes was overwritten by a concurrent writer, and the merge
//! starts again on top of theirs. Only a writer whose HEAD-to-PUT gap spans another's
//! whole PUT-settle-read can still be lost, which a settle far above one request's
//! latency makes unlikely rather than impossible.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::oci::{Digest, Manifest, Reference, media};
use crate::plan::{ReplicaRecord, ReplicaTarget};
use crate::registry::{RegistryClient, RegistryError};

/// The artifact type of a ledger manifest and the media type of its one layer.
pub const LEDGER_MEDIA_TYPE: &str = "application/vnd.imagectl.replication-ledger.v1+json";
/// The OCI empty descriptor's media type and content, the config of an artifact.
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY: &[u8] = b"{}";
/// The document's format version.
const VERSION: u32 = 1;
/// No ledger of real pushes comes near this; a larger layer is refused, not buffered.
const DOC_CAP: u64 = 64 << 20;
/// Whole read-merge-write rounds before a write gives up.
const WRITE_ATTEMPTS: u32 = 6;
/// The wait between writing and reading back: long against the HEAD-to-PUT gap of a
/// concurrent writer (two small requests), short against a replication run.
const SETTLE: Duration = Duration::from_millis(500);

/// Why a ledger in a target could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TargetLedgerError {
    /// The registry failed or refused.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The tag holds something that is not a ledger this imagectl reads.
    #[error("{reference} is not a ledger this imagectl reads: {reason}")]
    Unreadable {
        /// The ledger's tag.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// Concurrent writers kept replacing the document.
    #[error(
        "{reference} kept changing under concurrent writers ({WRITE_ATTEMPTS} attempts); run again"
    )]
    Contended {
        /// The ledger's tag.
        reference: String,
    },
}

/// One record as the target keeps it: the target tag without the registry's host, so the
/// ledger stays valid whichever name the registry is reached by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    target: String,
    source: Reference,
    source_digest: Digest,
    pushed_digest: Digest,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    referrers: Vec<Digest>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    referrer_tags: BTreeMap<String, Digest>,
}

#[derive(Serialize, Deserialize)]
struct Doc {
    version: u32,
    ledger: String,
    pushed: Vec<Entry>,
}

/// What one run changes in a target's ledger.
#[derive(Clone, Debug, Default)]
pub struct LedgerDelta {
    /// Tags this run pushed: their records replace any earlier record of the same tag.
    pub upsert: Vec<ReplicaRecord>,
    /// Records from the store's own ledger, moved here unless the target has the tag's.
    pub migrate: Vec<ReplicaRecord>,
    /// Tags this run deleted (or found gone), with what imagectl had pushed there: the
    /// record goes only if it still says that, so a newer push by another run stays.
    pub forget: Vec<(Reference, Digest)>,
}

impl LedgerDelta {
    /// Whether the run changes nothing.
    pub fn is_empty(&self) -> bool {
        self.upsert.is_empty() && self.migrate.is_empty() && self.forget.is_empty()
    }

    fn apply(&self, records: &[ReplicaRecord]) -> Vec<ReplicaRecord> {
        let mut out: Vec<ReplicaRecord> = records
            .iter()
            .filter(|r| {
                !self
                    .forget
                    .iter()
                    .any(|(t, d)| *t == r.target && *d == r.pushed_digest)
                    && !self.upsert.iter().any(|u| u.target == r.target)
            })
            .cloned()
            .collect();
        out.extend(self.upsert.iter().cloned());
        for m in &self.migrate {
            if !out.iter().any(|r| r.target == m.target) {
                out.push(m.clone());
            }
        }
        out.sort_by_key(|r| r.target.to_string());
        out
    }

    /// Whether `records` carry this run's changes: every pushed or migrated tag has a
    /// record (another run's newer push of the same tag counts) and no forgotten record
    /// is left.
    fn carried_by(&self, records: &[ReplicaRecord]) -> bool {
        let has = |t: &Reference| records.iter().any(|r| r.target == *t);
        self.upsert.iter().all(|u| has(&u.target))
            && self.migrate.iter().all(|m| has(&m.target))
            && !records.iter().any(|r| {
                self.forget
                    .iter()
                    .any(|(t, d)| *t == r.target && *d == r.pushed_digest)
            })
    }
}

/// The tag of `target`'s ledger.
pub fn ledger_reference(target: &ReplicaTarget) -> Result<Reference, TargetLedgerError> {
    let text = format!("{}:{}", target.ledger_repository(), target.ledger);
    Reference::parse_loose(&text).map_err(|e| TargetLedgerError::Unreadable {
        reference: text,
        reason: e.to_string(),
    })
}

/// The records in `target`'s ledger and the manifest digest they were read from (`None`:
/// no ledger yet). One manifest GET and one blob GET.
pub async fn read_target_ledger(
    client: &RegistryClient,
    target: &ReplicaTarget,
) -> Result<(Option<Digest>, Vec<ReplicaRecord>), TargetLedgerError> {
    let reference = ledger_reference(target)?;
    let Some(fetched) = client.get_manifest_at_origin(&reference).await? else {
        return Ok((None, Vec::new()));
    };
    let bad = |reason: String| TargetLedgerError::Unreadable {
        reference: reference.to_string(),
        reason,
    };
    let Manifest::Image { layers, .. } = &fetched.manifest else {
        return Err(bad("it is an index".into()));
    };
    let Some(layer) = layers.iter().find(|l| l.media_type == LEDGER_MEDIA_TYPE) else {
        return Err(bad(format!("it has no {LEDGER_MEDIA_TYPE} layer")));
    };
    if layer.size > DOC_CAP {
        return Err(bad(format!("its layer has {} bytes", layer.size)));
    }
    let body: Vec<Bytes> = client
        .get_blob(&reference, &layer.digest)
        .await?
        .into_stream()
        .try_collect()
        .await?;
    let bytes = body.concat();
    if Digest::of(&bytes) != layer.digest {
        return Err(bad("its layer does not match its digest".into()));
    }
    let doc: Doc = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if doc.version != VERSION {
        return Err(bad(format!(
            "version {}, this imagectl reads {VERSION}",
            doc.version
        )));
    }
    let records = doc
        .pushed
        .into_iter()
        .map(|e| {
            let target = Reference::parse_loose(&format!("{}/{}", target.registry, e.target))
                .map_err(|err| bad(format!("entry {}: {err}", e.target)))?;
            Ok(ReplicaRecord {
                target,
                source: e.source,
                source_digest: e.source_digest,
                pushed_digest: e.pushed_digest,
                referrers: e.referrers,
                referrer_tags: e.referrer_tags,
            })
        })
        .collect::<Result<_, TargetLedgerError>>()?;
    Ok((Some(fetched.digest), records))
}

/// Apply `delta` to `target`'s ledger without losing a concurrent writer's changes (see
/// the module's note). Writes nothing when the ledger already carries the changes.
pub async fn write_target_ledger(
    client: &RegistryClient,
    target: &ReplicaTarget,
    delta: &LedgerDelta,
) -> Result<(), TargetLedgerError> {
    let reference = ledger_reference(target)?;
    let (mut base, mut records) = read_target_ledger(client, target).await?;
    for attempt in 0..WRITE_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(crate::registry::backoff(attempt - 1)).await;
        }
        let merged = delta.apply(&records);
        if merged == records && delta.carried_by(&records) {
            return Ok(());
        }
        let (manifest, written) = upload_document(client, &reference, target, &merged).await?;
        if client.head_manifest_at_origin(&reference).await? != base {
            tracing::debug!(%reference, "ledger changed since it was read; merging again");
            (base, records) = read_target_ledger(client, target).await?;
            continue;
        }
        client
            .put_manifest(&reference, media::OCI_MANIFEST, manifest)
            .await?;
        tokio::time::sleep(SETTLE).await;
        (base, records) = read_target_ledger(client, target).await?;
        if base.as_ref() == Some(&written) || delta.carried_by(&records) {
            return Ok(());
        }
        tracing::debug!(%reference, "a concurrent writer replaced the ledger; merging again");
    }
    Err(TargetLedgerError::Contended {
        reference: reference.to_string(),
    })
}

/// Upload the document and the empty config (unless present) and build the manifest;
/// returns its bytes and digest.
async fn upload_document(
    client: &RegistryClient,
    reference: &Reference,
    target: &ReplicaTarget,
    records: &[ReplicaRecord],
) -> Result<(Bytes, Digest), TargetLedgerError> {
    let doc = Doc {
        version: VERSION,
        ledger: target.ledger.clone(),
        pushed: records
            .iter()
            .map(|r| Entry {
                target: r
                    .target
                    .to_string()
                    .strip_prefix(&format!("{}/", target.registry))
                    .map_or_else(|| r.target.to_string(), str::to_string),
                source: r.source.clone(),
                source_digest: r.source_digest.clone(),
                pushed_digest: r.pushed_digest.clone(),
                referrers: r.referrers.clone(),
                referrer_tags: r.referrer_tags.clone(),
            })
            .collect(),
    };
    let mut body = serde_json::to_vec_pretty(&doc).map_err(|e| TargetLedgerError::Unreadable {
        reference: reference.to_string(),
        reason: e.to_string(),
    })?;
    body.push(b'\n');
    let body = Bytes::from(body);
    let layer = put_blob(client, reference, body.clone()).await?;
    let config = put_blob(client, reference, Bytes::from_static(EMPTY)).await?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": LEDGER_MEDIA_TYPE,
        "config": { "mediaType": EMPTY_MEDIA_TYPE, "digest": config, "size": EMPTY.len() },
        "layers": [{ "mediaType": LEDGER_MEDIA_TYPE, "digest": layer, "size": body.len() }],
        "annotations": { "org.opencontainers.image.title": format!("imagectl replication ledger {}", target.ledger) },
    });
    let bytes = Bytes::from(manifest.to_string());
    let digest = Digest::of(&bytes);
    Ok((bytes, digest))
}

/// Upload `bytes` as a blob of `reference`'s repository unless it is there.
async fn put_blob(
    client: &RegistryClient,
    reference: &Reference,
    bytes: Bytes,
) -> Result<Digest, RegistryError> {
    let digest = Digest::of(&bytes);
    if client.blob_exists(reference, &digest).await?.is_none() {
        let size = bytes.len() as u64;
        let source = move || {
            let chunk = bytes.clone();
            async move { Ok(stream::once(async move { Ok(chunk) }).boxed()) }.boxed()
        };
        client.push_blob(reference, &digest, size, &source).await?;
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }
    fn d(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap()
    }
    fn rec(tag: &str, c: char) -> ReplicaRecord {
        ReplicaRecord {
            target: r(&format!("10.0.0.1:5000/m/library/nginx:{tag}")),
            source: r(&format!("nginx:{tag}")),
            source_digest: d(c),
            pushed_digest: d(c),
            referrers: Vec::new(),
            referrer_tags: BTreeMap::new(),
        }
    }

    #[test]
    fn merge_keeps_other_writers_and_newer_pushes() {
        let theirs = vec![rec("1", 'a'), rec("2", 'b'), rec("3", 'c')];
        let delta = LedgerDelta {
            upsert: vec![rec("4", 'd')],
            migrate: vec![rec("1", '9'), rec("5", 'e')],
            // Tag 2 was re-pushed by another run since this one deleted it: theirs stays.
            forget: vec![
                (rec("2", '8').target, d('8')),
                (rec("3", 'c').target, d('c')),
            ],
        };
        let merged = delta.apply(&theirs);
        assert_eq!(
            merged,
            vec![rec("1", 'a'), rec("2", 'b'), rec("4", 'd'), rec("5", 'e')]
        );
        assert!(delta.carried_by(&merged));
        assert!(!delta.carried_by(&theirs));
    }
}
