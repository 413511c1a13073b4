//! Writes `docker save`'s layout (docker-archive) to a tar stream: one uncompressed
//! `<diff_id>/layer.tar` per distinct layer (stored gzip/zstd layers are decoded on the
//! fly and checked against the config's `rootfs.diff_ids`), `<config>.json`,
//! `manifest.json` and `repositories`. `prepare.rs` reads the images first.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};

use serde_json::{Value, json};

use super::layers::decoded;
use super::prepare::Prepared;
use super::{ArchiveError, Format, append_dir, append_file};
use crate::oci::{Descriptor, Digest, Sha256Writer};
use crate::store::BlobRead;

/// A reader that hashes what passes through.
pub(super) struct HashRead<R> {
    inner: R,
    hasher: Sha256Writer,
}

impl<R: Read> HashRead<R> {
    pub(super) fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256Writer::default(),
        }
    }
    pub(super) fn finish(self) -> (Digest, u64) {
        let len = self.hasher.len();
        (self.hasher.finish(), len)
    }
}

impl<R: Read> Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// One `<diff_id>/layer.tar` entry of a docker-archive: where its bytes come from and
/// what they must hash to.
pub(super) struct LayerEntry<'a> {
    /// The tar entry's path.
    pub path: String,
    /// The stored layer blob.
    pub layer: &'a Descriptor,
    /// Its diff_id (what the written bytes must hash to).
    pub id: &'a Digest,
    /// The entry's size.
    pub size: u64,
    /// Whether `size` came from a gzip trailer.
    pub guessed: bool,
    /// Its position in the image, for messages.
    pub index: usize,
    /// Decode the stored blob (docker format) or copy it as stored (the Engine's).
    pub decode: bool,
}

impl LayerEntry<'_> {
    /// The bytes the entry holds (at most `size`; fewer is caught by [`Self::verify`]).
    pub(super) fn reader(
        &self,
        store: &dyn BlobRead,
    ) -> Result<Box<dyn Read + Send>, ArchiveError> {
        let raw: Box<dyn Read + Send> = if self.decode {
            decoded(store, self.layer)?
        } else {
            store.open_blob(&self.layer.digest)?
        };
        Ok(Box::new(raw.take(self.size)))
    }

    /// Refuse bytes that are not the layer's diff_id: the archive would be unusable.
    pub(super) fn verify(&self, actual: Digest, n: u64) -> Result<(), ArchiveError> {
        if !self.decode || (actual == *self.id && n == self.size) {
            return Ok(());
        }
        if self.guessed {
            return Err(ArchiveError::TrailerSizeWrong {
                layer: self.layer.digest.clone(),
            });
        }
        // The blob changed since it was checked.
        Err(ArchiveError::DiffIdMismatch {
            entry: self.path.clone(),
            index: self.index,
            expected: self.id.clone(),
            actual,
        })
    }
}

/// Where a docker-archive's layer data goes: inline in the stream, or (a file) into a
/// gap left for it, filled later on every core.
pub(super) trait LayerSink<W: Write> {
    /// Write `entry` (header and data, or header and a gap) at the builder's position.
    fn put(
        &mut self,
        builder: &mut tar::Builder<W>,
        entry: LayerEntry<'_>,
    ) -> Result<(), ArchiveError>;
}

/// Layers written in stream order, decoded and hashed as they go.
pub(super) struct Inline<'s>(pub &'s dyn BlobRead);

impl<W: Write> LayerSink<W> for Inline<'_> {
    fn put(
        &mut self,
        builder: &mut tar::Builder<W>,
        entry: LayerEntry<'_>,
    ) -> Result<(), ArchiveError> {
        let mut r = HashRead::new(entry.reader(self.0)?);
        append_file(builder, &entry.path, entry.size, &mut r)?;
        let (actual, n) = r.finish();
        entry.verify(actual, n)
    }
}

/// Write the docker-archive entries of `images`, each layer once, its data through `sink`.
pub(super) fn write<W: Write>(
    images: &[Prepared],
    format: Format,
    builder: &mut tar::Builder<W>,
    sink: &mut dyn LayerSink<W>,
) -> Result<(), ArchiveError> {
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for image in images {
        let mut parent: Option<&str> = None;
        let mut layer_paths = Vec::new();
        for (layer, (id, size)) in image.layers().iter().zip(&image.diffs) {
            let hex = id.hex();
            layer_paths.push(format!("{hex}/layer.tar"));
            if written.insert(id.clone()) {
                append_dir(builder, &format!("{hex}/"))?;
                append_file(builder, &format!("{hex}/VERSION"), 3, &b"1.0"[..])?;
                let mut v1 = json!({ "id": hex, "created": "1970-01-01T00:00:00Z" });
                if let Some(p) = parent {
                    v1["parent"] = p.into();
                }
                let v1 = serde_json::to_vec(&v1).expect("JSON serializes");
                append_file(builder, &format!("{hex}/json"), v1.len() as u64, &v1[..])?;
                sink.put(
                    builder,
                    LayerEntry {
                        path: format!("{hex}/layer.tar"),
                        layer,
                        id,
                        size: *size,
                        guessed: image.guessed.contains(&layer.digest),
                        index: layer_paths.len() - 1,
                        decode: format != Format::DockerEngine,
                    },
                )?;
            }
            parent = Some(hex);
        }
        let config_name = format!("{}.json", image.config().digest.hex());
        if written.insert(image.config().digest.clone()) {
            let bytes = image.config_bytes();
            append_file(builder, &config_name, bytes.len() as u64, &bytes[..])?;
        }
        let tags = super::repo_tags(&image.names);
        for n in image.names.iter().filter(|n| n.tag().is_some()) {
            let top = image.diffs.last().map(|(d, _)| d.hex().to_string());
            repositories.entry(n.familiar_name()).or_default().insert(
                n.tag().unwrap_or_default().to_string(),
                top.unwrap_or_default(),
            );
        }
        manifest.push(json!({
            "Config": config_name,
            "RepoTags": if tags.is_empty() { Value::Null } else { tags.into() },
            "Layers": layer_paths,
        }));
    }
    let manifest = serde_json::to_vec(&manifest).expect("JSON serializes");
    append_file(
        builder,
        "manifest.json",
        manifest.len() as u64,
        &manifest[..],
    )?;
    if !repositories.is_empty() {
        let repos = serde_json::to_vec(&repositories).expect("JSON serializes");
        append_file(builder, "repositories", repos.len() as u64, &repos[..])?;
    }
    Ok(())
}
