//! `index.json`: the layout's catalogue. Each tagged image is a descriptor whose
//! `org.opencontainers.image.ref.name` is the full reference; imagectl's own metadata
//! rides along as `io.imagectl.*` annotations, so it is replaced atomically together with
//! the names and no second file can disagree with it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{INDEX_FILE, LayoutStore, sync_dir};
use crate::oci::{Descriptor, Platform, Reference};
use crate::store::{Catalog, CatalogEntry, LockMode, REF_NAME, StoreError};

pub(super) const EMPTY_INDEX: &str =
    r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
const PULLED_AT: &str = "io.imagectl.pulled";
const LAST_USED: &str = "io.imagectl.last-used";
const SOURCE_DIGEST: &str = "io.imagectl.source-digest";
/// index.json is read whole; a sane one is far smaller than this.
const MAX_INDEX_BYTES: u64 = 64 << 20;

/// The index document. Parsed with our own serde types (not oci-spec's) so that fields
/// we do not know are carried through a rewrite untouched.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexDoc {
    schema_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    manifests: Vec<RawDescriptor>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<RawPlatform>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize, Deserialize, Clone)]
struct RawPlatform {
    architecture: String,
    os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

impl LayoutStore {
    fn read_index(&self) -> Result<IndexDoc, StoreError> {
        let path = self.root.join(INDEX_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => EMPTY_INDEX.as_bytes().to_vec(),
            Err(e) => return Err(StoreError::io("reading", path.display().to_string(), e)),
        };
        if bytes.len() as u64 > MAX_INDEX_BYTES {
            return Err(self.damaged(format!("{} bytes is too large", bytes.len())));
        }
        serde_json::from_slice(&bytes).map_err(|e| self.damaged(e.to_string()))
    }

    fn damaged(&self, reason: String) -> StoreError {
        StoreError::Damaged {
            what: self.root.join(INDEX_FILE).display().to_string(),
            reason,
        }
    }

    /// Replace index.json atomically: temp file in the store, fsync, rename, fsync dir.
    pub(super) fn write_index_bytes(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let io =
            |action, e| StoreError::io(action, self.root.join(INDEX_FILE).display().to_string(), e);
        let mut tmp = self.temp_file("index-").map_err(|e| io("writing", e))?;
        tmp.write_all(bytes).map_err(|e| io("writing", e))?;
        if self.durable {
            tmp.as_file().sync_all().map_err(|e| io("syncing", e))?;
        }
        tmp.persist(self.root.join(INDEX_FILE))
            .map_err(|e| io("replacing", e.error))?;
        if self.durable {
            sync_dir(&self.root)?;
        }
        Ok(())
    }

    fn entry_from_raw(&self, raw: &RawDescriptor) -> Result<CatalogEntry, StoreError> {
        let digest = raw
            .digest
            .parse()
            .map_err(|e| self.damaged(format!("entry {}: {e}", raw.digest)))?;
        let mut annotations = raw.annotations.clone();
        let name = annotations.get(REF_NAME).and_then(|n| {
            Reference::parse_loose(n)
                .ok()
                .filter(|r| r.to_string() == *n)
        });
        if name.is_some() {
            annotations.remove(REF_NAME);
        }
        let time = |a: &mut BTreeMap<String, String>, k| {
            a.remove(k).and_then(|v| v.parse::<Timestamp>().ok())
        };
        let pulled_at = time(&mut annotations, PULLED_AT);
        let last_used = time(&mut annotations, LAST_USED);
        let source_digest = annotations
            .remove(SOURCE_DIGEST)
            .and_then(|d| d.parse().ok());
        Ok(CatalogEntry {
            name,
            target: Descriptor {
                media_type: raw.media_type.clone(),
                digest,
                size: raw.size,
                platform: raw
                    .platform
                    .as_ref()
                    .map(|p| Platform::new(&p.os, &p.architecture, p.variant.as_deref())),
            },
            pulled_at,
            source_digest,
            last_used,
            annotations,
        })
    }
}

fn raw_from_entry(entry: &CatalogEntry, previous: &[RawDescriptor]) -> RawDescriptor {
    let mut annotations = entry.annotations.clone();
    if let Some(name) = &entry.name {
        annotations.insert(REF_NAME.into(), name.to_string());
    }
    if let Some(t) = entry.pulled_at {
        annotations.insert(PULLED_AT.into(), t.to_string());
    }
    if let Some(t) = entry.last_used {
        annotations.insert(LAST_USED.into(), t.to_string());
    }
    if let Some(d) = &entry.source_digest {
        annotations.insert(SOURCE_DIGEST.into(), d.to_string());
    }
    let digest = entry.target.digest.to_string();
    // Keep fields other tools wrote (platform details, urls, …) when the target is unchanged.
    let old = previous.iter().find(|r| r.digest == digest);
    RawDescriptor {
        media_type: entry.target.media_type.clone(),
        digest,
        size: entry.target.size,
        annotations,
        platform: old.and_then(|o| o.platform.clone()).or_else(|| {
            entry.target.platform.as_ref().map(|p| RawPlatform {
                architecture: p.architecture.clone(),
                os: p.os.clone(),
                variant: p.variant.clone(),
                rest: BTreeMap::new(),
            })
        }),
        rest: old.map(|o| o.rest.clone()).unwrap_or_default(),
    }
}

impl Catalog for LayoutStore {
    fn entries(&self) -> Result<Vec<CatalogEntry>, StoreError> {
        self.read_index()?
            .manifests
            .iter()
            .map(|raw| self.entry_from_raw(raw))
            .collect()
    }

    fn update(
        &self,
        edit: &mut dyn FnMut(&mut Vec<CatalogEntry>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let _guard = self.take_lock("index.lock", LockMode::Exclusive)?;
        let mut doc = self.read_index()?;
        let mut entries: Vec<CatalogEntry> = doc
            .manifests
            .iter()
            .map(|raw| self.entry_from_raw(raw))
            .collect::<Result<_, _>>()?;
        let before = entries.clone();
        edit(&mut entries)?;
        if entries == before {
            return Ok(());
        }
        doc.manifests = entries
            .iter()
            .map(|e| raw_from_entry(e, &doc.manifests))
            .collect();
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| self.damaged(e.to_string()))?;
        self.write_index_bytes(&bytes)
    }
}
