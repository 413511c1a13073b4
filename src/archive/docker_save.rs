//! Writes `docker save`'s layout (docker-archive) to a tar stream: one uncompressed
//! `<diff_id>/layer.tar` per distinct layer (stored gzip/zstd layers are decoded on the
//! fly and checked against the config's `rootfs.diff_ids`), `<config>.json`,
//! `manifest.json` and `repositories`. Also reads the images to save from the store,
//! for both formats, before anything is written.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};

use serde_json::{Value, json};

use super::compress::layer_reader;
use super::{ArchiveError, Format, SaveImage, SizeMode, append_dir, append_file};
use crate::oci::{Descriptor, Digest, Manifest, Platform, Reference, Sha256Writer, media};
use crate::store::{BlobRead, MAX_METADATA_BLOB};

/// An image read from the store, ready to write.
pub(super) struct Prepared {
    pub names: Vec<Reference>,
    pub manifest: Descriptor,
    pub manifest_bytes: Vec<u8>,
    pub config: Descriptor,
    pub config_bytes: Vec<u8>,
    pub layers: Vec<Descriptor>,
    /// Per layer: the diff_id and the uncompressed size (docker format only).
    pub diffs: Vec<(Digest, u64)>,
    /// Layers whose size came from their gzip trailer (checked while written).
    pub guessed: BTreeSet<Digest>,
    /// OCI format, whole multi-platform image: the stored index, which names point at.
    pub index: Option<(Descriptor, Vec<u8>)>,
    /// With `index`: its other platforms' images.
    pub siblings: Vec<Sibling>,
}

/// Another platform of a multi-platform image saved whole (OCI format).
pub(super) struct Sibling {
    pub manifest: Descriptor,
    pub manifest_bytes: Vec<u8>,
    pub config: Descriptor,
    pub config_bytes: Vec<u8>,
    pub layers: Vec<Descriptor>,
}

fn parse_manifest(bytes: &[u8], d: &Descriptor) -> Result<Manifest, ArchiveError> {
    Manifest::parse(bytes, Some(&d.media_type)).map_err(|source| ArchiveError::Manifest {
        entry: d.digest.to_string(),
        source,
    })
}

/// Every layer is in the store at its recorded size (an OCI archive copies them as stored).
fn check_layers(store: &dyn BlobRead, layers: &[Descriptor]) -> Result<(), ArchiveError> {
    for l in layers {
        if store.blob_size(&l.digest)? != Some(l.size) {
            return Err(crate::store::StoreError::MissingBlob(l.digest.clone()).into());
        }
    }
    Ok(())
}

/// Read every image's manifest and config, and for the docker format the size of every
/// layer's uncompressed tar, so a missing or undecodable blob fails before a byte is
/// written (a layer whose content is not its diff_id fails while it is written).
pub(super) fn prepare(
    store: &(dyn BlobRead + Sync),
    images: &[SaveImage],
    format: Format,
    platform: Option<&Platform>,
    mode: SizeMode,
) -> Result<Vec<Prepared>, ArchiveError> {
    let mut out = Vec::new();
    for image in images {
        let unsupported = |reason: String| ArchiveError::Unsupported {
            image: image.query.clone(),
            reason,
        };
        let target = image.target.clone();
        let bytes = store.read_blob(&target.digest, MAX_METADATA_BLOB)?;
        let manifest = parse_manifest(&bytes, &target)?;
        let mut index = None;
        let mut siblings = Vec::new();
        let (target, bytes, manifest) = if let Manifest::Index { manifests, .. } = &manifest {
            // A docker-archive holds one platform: the one asked for, else this host's. An
            // OCI archive holds the whole stored index unless a platform is asked for.
            let wanted = platform.cloned().unwrap_or_else(Platform::host);
            let chosen = manifest.select(&wanted).first().cloned().cloned();
            let whole = format == Format::Oci && platform.is_none();
            let child = match (chosen, whole) {
                (Some(c), _) => c,
                (None, true) => manifests
                    .first()
                    .cloned()
                    .ok_or_else(|| unsupported("an empty index".into()))?,
                (None, false) => {
                    let available: Vec<String> = manifests
                        .iter()
                        .filter_map(|d| d.platform.as_ref().map(ToString::to_string))
                        .collect();
                    return Err(unsupported(format!(
                        "the stored image has no {wanted} platform (it has: {}); choose one with --platform",
                        available.join(", ")
                    )));
                }
            };
            if whole {
                for d in manifests.iter().filter(|d| d.digest != child.digest) {
                    let b = store.read_blob(&d.digest, MAX_METADATA_BLOB)?;
                    let Manifest::Image { config, layers, .. } = parse_manifest(&b, d)? else {
                        return Err(unsupported("an index inside an index".into()));
                    };
                    let config_bytes = store.read_blob(&config.digest, MAX_METADATA_BLOB)?;
                    check_layers(store, &layers)?;
                    siblings.push(Sibling {
                        manifest: d.clone(),
                        manifest_bytes: b,
                        config,
                        config_bytes,
                        layers,
                    });
                }
                index = Some((target.clone(), bytes.clone()));
            }
            let child_bytes = store.read_blob(&child.digest, MAX_METADATA_BLOB)?;
            let child_manifest = parse_manifest(&child_bytes, &child)?;
            (child, child_bytes, child_manifest)
        } else {
            (target, bytes, manifest)
        };
        let Manifest::Image { config, layers, .. } = manifest else {
            return Err(unsupported("an index inside an index".into()));
        };
        let config_bytes = store.read_blob(&config.digest, MAX_METADATA_BLOB)?;
        let mut diffs = Vec::new();
        if format != Format::Oci {
            let ids = diff_ids(&config_bytes).map_err(|reason| ArchiveError::Malformed {
                entry: format!("config {}", config.digest),
                reason,
            })?;
            if ids.len() != layers.len() {
                return Err(ArchiveError::Malformed {
                    entry: format!("config {}", config.digest),
                    reason: format!(
                        "rootfs.diff_ids lists {} layers, the manifest {}",
                        ids.len(),
                        layers.len()
                    ),
                });
            }
            // Sizes are filled in below, all layers at once.
            diffs = ids.into_iter().map(|id| (id, 0)).collect();
        } else {
            check_layers(store, &layers)?;
        }
        out.push(Prepared {
            names: image.names.clone(),
            manifest: target,
            manifest_bytes: bytes,
            config,
            config_bytes,
            layers,
            diffs,
            guessed: BTreeSet::new(),
            index,
            siblings,
        });
    }
    if format == Format::DockerEngine {
        // Layers go as stored: their size is the blob's.
        for p in &mut out {
            check_layers(store, &p.layers)?;
            for ((_, size), layer) in p.diffs.iter_mut().zip(&p.layers) {
                *size = layer.size;
            }
        }
    }
    if format == Format::Docker {
        let unique: BTreeMap<&Digest, &Descriptor> = out
            .iter()
            .flat_map(|p| p.layers.iter().map(|l| (&l.digest, l)))
            .collect();
        let mut guessed = BTreeMap::new();
        let mut exact = Vec::new();
        for l in unique.into_values() {
            match trailer_size(store, l, mode)? {
                Some(size) => {
                    guessed.insert(l.digest.clone(), size);
                }
                None => exact.push(l),
            }
        }
        let mut sizes = uncompressed_sizes(store, &exact)?;
        for p in &mut out {
            p.guessed = p
                .layers
                .iter()
                .filter(|l| guessed.contains_key(&l.digest))
                .map(|l| l.digest.clone())
                .collect();
        }
        sizes.append(&mut guessed);
        for p in &mut out {
            for ((_, size), layer) in p.diffs.iter_mut().zip(&p.layers) {
                *size = sizes[&layer.digest];
            }
        }
    }
    Ok(out)
}

/// [`uncompressed_size`] of every layer, decoded on every core at once: this pass is most
/// of a docker-archive save's work besides the write itself.
fn uncompressed_sizes(
    store: &(dyn BlobRead + Sync),
    layers: &[&Descriptor],
) -> Result<BTreeMap<Digest, u64>, ArchiveError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = layers.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let jobs: Vec<_> = layers
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|l| Ok((l.digest.clone(), uncompressed_size(store, l)?)))
                        .collect::<Result<Vec<_>, ArchiveError>>()
                })
            })
            .collect();
        let mut sizes = BTreeMap::new();
        for job in jobs {
            sizes.extend(job.join().expect("a layer-size thread panicked")?);
        }
        Ok(sizes)
    })
}

/// The config's `rootfs.diff_ids`.
pub(super) fn diff_ids(config: &[u8]) -> Result<Vec<Digest>, String> {
    let v: Value = serde_json::from_slice(config)
        .map_err(|e| format!("not JSON: {}", crate::oci::json_error_text(&e)))?;
    let ids = v
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .ok_or("no rootfs.diff_ids")?;
    ids.iter()
        .map(|d| {
            d.as_str()
                .ok_or_else(|| "a diff_id is not a string".to_string())?
                .parse::<Digest>()
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// The size of a stored layer's uncompressed tar, which its tar header needs before the
/// first byte. Only counted here (one decode, no hash): the write pass hashes the bytes it
/// writes and refuses a layer whose sha256 is not its diff_id, so verification costs no
/// second pass over a multi-GiB layer.
fn uncompressed_size(store: &dyn BlobRead, layer: &Descriptor) -> Result<u64, ArchiveError> {
    if is_plain_tar(&layer.media_type) {
        return Ok(layer.size);
    }
    io::copy(&mut decoded(store, layer)?, &mut io::sink()).map_err(|e| decode_error(layer, e))
}

/// The uncompressed size a gzip layer's trailer states (ISIZE, the last 4 bytes), when
/// `mode` allows trusting it; `None` means "count it".
fn trailer_size(
    store: &dyn BlobRead,
    layer: &Descriptor,
    mode: SizeMode,
) -> Result<Option<u64>, ArchiveError> {
    if mode != SizeMode::GzipTrailer || !layer.media_type.ends_with("gzip") {
        return Ok(None);
    }
    Ok(store
        .blob_tail(&layer.digest, 4)?
        .map(|tail| u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]))))
}

fn is_plain_tar(media_type: &str) -> bool {
    media_type == media::OCI_LAYER_TAR
        || media_type == "application/vnd.docker.image.rootfs.diff.tar"
}

fn decoded(store: &dyn BlobRead, layer: &Descriptor) -> Result<Box<dyn Read + Send>, ArchiveError> {
    let raw = store.open_blob(&layer.digest)?;
    layer_reader(&layer.media_type, raw).map_err(|e| decode_error(layer, e))
}

pub(super) fn decode_error(layer: &Descriptor, e: io::Error) -> ArchiveError {
    ArchiveError::Malformed {
        entry: format!("stored layer {}", layer.digest),
        reason: format!("cannot decode it as {}: {e}", layer.media_type),
    }
}

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
        for (layer, (id, size)) in image.layers.iter().zip(&image.diffs) {
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
        let config_name = format!("{}.json", image.config.digest.hex());
        if written.insert(image.config.digest.clone()) {
            append_file(
                builder,
                &config_name,
                image.config_bytes.len() as u64,
                &image.config_bytes[..],
            )?;
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
