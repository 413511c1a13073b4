//! An OCI layout archive's entries as an [`ImageSource`], so load walks what an archive
//! holds with the same walker pull and save use, and a walk's failure names the entry and
//! the manifest that names it.

use bytes::Bytes;

use super::ArchiveError;
use super::collected::{Collected, Outcome};
use crate::image::{ImageSource, WalkError};
use crate::oci::{Descriptor, Digest};

/// An archive entry's name for the blob `d`.
pub(super) fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// An archive's entries as an image source: a JSON blob (manifest, index, config) is
/// verified against its entry name as it streams in, and here against the descriptor's
/// size. Who names a missing entry is added by [`walk_failed`].
impl ImageSource for Collected {
    type Error = ArchiveError;

    async fn manifest(&self, desc: &Descriptor) -> Result<Bytes, ArchiveError> {
        document(self, desc)
    }

    async fn config(&self, desc: &Descriptor) -> Result<Bytes, ArchiveError> {
        document(self, desc)
    }

    async fn blob_size(&self, desc: &Descriptor) -> Result<Option<u64>, ArchiveError> {
        Ok(self.blob(&blob_name(&desc.digest)).map(|(_, size)| size))
    }
}

fn document(c: &Collected, d: &Descriptor) -> Result<Bytes, ArchiveError> {
    let name = blob_name(&d.digest);
    let bytes = c
        .json
        .get(&name)
        .ok_or_else(|| ArchiveError::MissingEntry {
            entry: name.clone(),
            detail: String::new(),
        })?;
    check_size(&name, d.size, bytes.len() as u64)?;
    Ok(Bytes::copy_from_slice(bytes))
}

pub(super) fn check_size(name: &str, expected: u64, actual: u64) -> Result<(), ArchiveError> {
    if expected != actual {
        return Err(ArchiveError::Mismatch {
            entry: name.to_string(),
            what: "size",
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// A walk's failure, naming the entry and who names it.
pub(super) fn walk_failed(e: WalkError<ArchiveError>) -> ArchiveError {
    let who = |by: Option<Digest>| by.map_or_else(|| "index.json".to_string(), |d| blob_name(&d));
    match e {
        WalkError::Read {
            named_by,
            error: ArchiveError::MissingEntry { entry, .. },
            ..
        } => ArchiveError::MissingEntry {
            entry,
            detail: format!(" ({} names it)", who(named_by)),
        },
        WalkError::Read { error, .. } => error,
        WalkError::Manifest { desc, source, .. } => ArchiveError::Manifest {
            entry: blob_name(&desc.digest),
            source,
        },
        WalkError::NestedIndex { index } => ArchiveError::Malformed {
            entry: blob_name(&index),
            reason: "an index inside an index is not supported".into(),
        },
        WalkError::Platform(missing) => ArchiveError::Malformed {
            entry: "index.json".into(),
            reason: missing.to_string(),
        },
    }
}

/// The entry holding the blob `b`, checked against `b`'s size, and its digest; `who`
/// names what names it, for the message when it is missing.
pub(super) fn blob_entry(
    c: &Collected,
    b: &Descriptor,
    who: &str,
) -> Result<(String, Digest), ArchiveError> {
    let entry = blob_name(&b.digest);
    let (digest, size) = c.blob(&entry).ok_or_else(|| ArchiveError::MissingEntry {
        entry: entry.clone(),
        detail: format!(" ({who})"),
    })?;
    check_size(&entry, b.size, size)?;
    Ok((entry, digest))
}

/// Publish a checked blob with the load: a JSON document from memory, else its staged
/// stream.
pub(super) fn queue(c: &Collected, out: &mut Outcome, entry: &str, digest: Digest) {
    match c.json.get(entry) {
        Some(bytes) => out.documents.push((digest, bytes.clone())),
        None => out.blobs.push(digest),
    }
}
