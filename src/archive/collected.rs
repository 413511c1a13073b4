//! What a load gathers from an archive and what it hands back: the entries collected while
//! the tar streams, the blobs, documents and names to publish, and the images loaded. The
//! reader (`load.rs`) fills these and the two layouts' assemblers (`docker_load.rs`,
//! `oci_load.rs`) read them, so neither layout imports the reader.

use std::collections::{BTreeMap, HashMap};

use super::compress::{Compression, Diff};
use super::{ArchiveError, MAX_JSON_TOTAL};
use crate::oci::{Digest, Reference};
use crate::store::{CatalogEntry, StagedBlob};

/// One image a load put in the store.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The name it got (none: untagged, or only `foreign`).
    pub name: Option<Reference>,
    /// A name imagectl does not parse as a reference (an OCI `ref.name` such as `v1`).
    pub foreign: Option<String>,
    /// The image ID (config digest; index digest for a multi-platform image).
    pub id: Digest,
}

/// What the entries of an archive held, by entry name.
#[derive(Default)]
pub(super) struct Collected {
    /// Small JSON documents.
    pub json: BTreeMap<String, Vec<u8>>,
    json_total: u64,
    /// Streamed entries (layers, large blobs): digest and size of their content.
    pub files: BTreeMap<String, (Digest, u64)>,
    /// `docker save` (20.10) links a layer it already wrote under another legacy ID:
    /// `<id>/layer.tar` → `../<other>/layer.tar`, resolved when matching up.
    pub links: BTreeMap<String, String>,
    /// What compressed blobs decode to, by blob digest (for the diff_id check).
    pub diffs: HashMap<Digest, (Compression, Diff)>,
    /// The staged content of streamed entries, by digest.
    pub staged: HashMap<Digest, Box<dyn StagedBlob>>,
    /// Entries read, of any kind: none means the input held no archive.
    pub entries: usize,
}

impl Collected {
    /// The digest and size of an entry's content, wherever it was kept.
    pub fn blob(&self, name: &str) -> Option<(Digest, u64)> {
        let name = name.strip_prefix("./").unwrap_or(name);
        let name = self.links.get(name).map(String::as_str).unwrap_or(name);
        self.files
            .get(name)
            .cloned()
            .or_else(|| self.json.get(name).map(|b| (Digest::of(b), b.len() as u64)))
    }

    /// What the streamed entry `entry` (content `digest`) decodes to: the uncompressed
    /// digest and the compression; `None` when it is not gzip or zstd. A bomb or a corrupt
    /// stream is an error naming the entry.
    pub fn decoded(
        &self,
        entry: &str,
        digest: &Digest,
    ) -> Result<Option<(Digest, Compression)>, ArchiveError> {
        match self.diffs.get(digest) {
            None => Ok(None),
            Some((c, Diff::Digest(d))) => Ok(Some((d.clone(), *c))),
            Some((_, Diff::Bomb { input, output })) => Err(ArchiveError::Bomb {
                entry: entry.to_string(),
                input: *input,
                output: *output,
            }),
            Some((c, Diff::Corrupt(reason))) => Err(ArchiveError::Compression {
                entry: entry.to_string(),
                format: c.name(),
                reason: reason.clone(),
            }),
        }
    }

    /// Keeps a small JSON document; the same name twice must hold the same bytes, and all
    /// of them together stay under [`MAX_JSON_TOTAL`].
    pub fn add_json(&mut self, name: String, bytes: Vec<u8>) -> Result<(), ArchiveError> {
        if let Some(old) = self.json.get(&name) {
            return if *old == bytes {
                Ok(())
            } else {
                Err(ArchiveError::DuplicateEntry { entry: name })
            };
        }
        self.json_total += bytes.len() as u64;
        if self.json_total > MAX_JSON_TOTAL {
            return Err(ArchiveError::TooLarge {
                entry: name,
                size: self.json_total,
                max: MAX_JSON_TOTAL,
            });
        }
        self.json.insert(name, bytes);
        Ok(())
    }

    /// Records a streamed entry and its staged content (one staged blob per digest).
    pub fn add_file(
        &mut self,
        name: String,
        digest: Digest,
        size: u64,
        staged: Box<dyn StagedBlob>,
    ) -> Result<(), ArchiveError> {
        if let Some((old, _)) = self.files.get(&name) {
            if *old != digest {
                return Err(ArchiveError::DuplicateEntry { entry: name });
            }
            return Ok(());
        }
        self.files.insert(name, (digest.clone(), size));
        self.staged.entry(digest).or_insert(staged);
        Ok(())
    }
}

/// What to make visible once everything verified.
#[derive(Default)]
pub(super) struct Outcome {
    /// Streamed blobs the images use.
    pub blobs: Vec<Digest>,
    /// Documents (manifests, configs, small blobs) to write from memory.
    pub documents: Vec<(Digest, Vec<u8>)>,
    /// Catalogue entries to write.
    pub entries: Vec<CatalogEntry>,
    /// What to report.
    pub loaded: Vec<Loaded>,
    /// Referrers (signatures, attestations) among `entries`.
    pub referrers: usize,
}

/// What a load put in the store.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// The images, one per name.
    pub images: Vec<Loaded>,
    /// Referrers kept beside them (signatures, attestations, SBOMs).
    pub referrers: usize,
}
