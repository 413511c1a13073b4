//! Image archives: writes and reads docker-archive and OCI image-layout tar streams
//! (files and pipes, plain, gzip or zstd) to and from the store.
//!
//! `save` writes `docker save`'s layout (uncompressed layers, verified against the
//! config's diff_ids while they stream) or an OCI layout. `load` streams any of them back:
//! each layer goes straight into a staged store blob named by its own hash, only small
//! JSON documents stay in memory (capped), and everything is matched up and verified at
//! the end; blobs are published and names written (one catalogue update) only then, so a
//! failed load leaves the store as it was.

mod codec;
mod collected;
mod compress;
mod docker_load;
mod docker_save;
mod entries;
mod layers;
mod load;
mod oci_load;
mod oci_save;
mod output;
mod pgzip;
mod placed;
mod prepare;
mod referrers;
mod safe_tar;

pub use codec::Codec;
pub use collected::{LoadReport, Loaded};
pub use compress::{BOMB_FLOOR, BOMB_RATIO, Compression, is_bomb};
pub use load::load;
pub use output::OutputFile;
pub use prepare::held_manifests;

use std::io::{self, Read, Write};

use crate::oci::{Descriptor, Digest, ManifestError, Platform, Reference};
use crate::store::{BlobRead, StoreError};

/// The two archive layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// `docker save`'s layout: `manifest.json`, `repositories`, `<id>/layer.tar`.
    #[default]
    Docker,
    /// An OCI image layout: `oci-layout`, `index.json`, `blobs/sha256/…`.
    Oci,
    /// `docker save`'s layout with each layer as stored (gzip or zstd), for the Engine's
    /// `POST /images/load`, which decompresses and checks every layer against the
    /// config's diff_ids itself: no decoding pass here, and a third of the bytes on the
    /// pipe. Not for files: `podman load` and older tools expect plain layers.
    DockerEngine,
}

/// One image to save: its manifest (or index) in the store and the names to record.
#[derive(Clone, Debug)]
pub struct SaveImage {
    /// What the user typed, for messages.
    pub query: String,
    /// The names to record (none for an image saved by ID).
    pub names: Vec<Reference>,
    /// The stored manifest or index.
    pub target: Descriptor,
}

/// Largest JSON document (manifest, config, index) accepted from an archive.
pub const MAX_JSON_ENTRY: u64 = 8 << 20;
/// Largest total of JSON documents held in memory during a load.
pub const MAX_JSON_TOTAL: u64 = 256 << 20;

/// What went wrong reading or writing an archive; each names the entry involved.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The stream is not a tar (or is a compression imagectl does not read).
    #[error("not an image archive: {0}")]
    NotAnArchive(String),
    /// No entries at all.
    #[error("the archive is empty")]
    Empty,
    /// The stream ended in the middle of something.
    #[error("the archive is truncated (it ends inside {entry})")]
    Truncated {
        /// The entry being read.
        entry: String,
    },
    /// The compressed stream is damaged.
    #[error("corrupt {format} stream at {entry}: {reason}")]
    Compression {
        /// The entry being read.
        entry: String,
        /// gzip or zstd.
        format: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// An entry that must never be extracted or trusted.
    #[error("unsafe entry {entry:?}: {reason}")]
    UnsafeEntry {
        /// The entry name.
        entry: String,
        /// Why.
        reason: String,
    },
    /// A name the detected format does not have.
    #[error("unexpected entry {entry:?}: {reason}")]
    UnexpectedEntry {
        /// The entry name.
        entry: String,
        /// Why.
        reason: String,
    },
    /// The same name twice with different content.
    #[error("entry {entry:?} appears twice with different content")]
    DuplicateEntry {
        /// The entry name.
        entry: String,
    },
    /// A size or digest that disagrees with what the manifest or name says.
    #[error("{entry}: {what} is {actual}, expected {expected}")]
    Mismatch {
        /// The entry name.
        entry: String,
        /// size or digest.
        what: &'static str,
        /// What the manifest or name says.
        expected: String,
        /// What the content is.
        actual: String,
    },
    /// A layer that is not the one the config's `rootfs.diff_ids` names.
    #[error(
        "{entry}: layer {index} hashes to {actual}, but the config's rootfs.diff_ids says {expected}"
    )]
    DiffIdMismatch {
        /// The layer entry (or blob).
        entry: String,
        /// Its position in the image.
        index: usize,
        /// The diff_id.
        expected: Digest,
        /// What the uncompressed layer hashes to.
        actual: Digest,
    },
    /// A layer's size taken from its gzip trailer was wrong (a multi-member gzip, or a
    /// layer over 4 GiB): the archive written so far is unusable; save again with
    /// [`SizeMode::Exact`].
    #[error(
        "stored layer {layer}: its gzip trailer gave a wrong uncompressed size; the archive was not finished"
    )]
    TrailerSizeWrong {
        /// The layer blob.
        layer: Digest,
    },
    /// The decompressed stream grew too large for its input.
    #[error(
        "refusing a decompression bomb at {entry}: {output} bytes out of {input} compressed (limit: more than {BOMB_RATIO}x and over 1 GiB)"
    )]
    Bomb {
        /// The entry being read.
        entry: String,
        /// Compressed bytes read.
        input: u64,
        /// Decompressed bytes produced.
        output: u64,
    },
    /// Something a manifest names is not in the archive.
    #[error("{entry} is missing from the archive{detail}")]
    MissingEntry {
        /// The missing entry or blob.
        entry: String,
        /// Who needs it.
        detail: String,
    },
    /// A JSON document that does not parse or has the wrong shape.
    #[error("{entry}: {reason}")]
    Malformed {
        /// The entry name.
        entry: String,
        /// Why.
        reason: String,
    },
    /// A JSON entry larger than allowed.
    #[error(
        "{entry}: {size} bytes is more than the {max} allowed for a JSON document in an archive"
    )]
    TooLarge {
        /// The entry name.
        entry: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A manifest that does not parse.
    #[error("{entry}: {source}")]
    Manifest {
        /// The entry name.
        entry: String,
        /// The parse error.
        source: ManifestError,
    },
    /// An image the archive format cannot carry.
    #[error("{image}: {reason}")]
    Unsupported {
        /// The image as typed.
        image: String,
        /// Why.
        reason: String,
    },
    /// Writing the archive failed.
    #[error("writing the archive: {0}")]
    Write(#[source] io::Error),
    /// Reading the input failed.
    #[error("reading the archive: {0}")]
    Read(#[source] io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ArchiveError {
    /// Whether the archive itself is at fault (not the store or the output).
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            Self::Store(_) | Self::Write(_) | Self::Unsupported { .. }
        )
    }
}

/// How a docker-archive save learns each gzip layer's uncompressed size, which the layer's
/// tar header needs before its first byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SizeMode {
    /// Decode every layer once to count (a whole extra pass over the data).
    #[default]
    Exact,
    /// Read the gzip trailer's ISIZE (4 bytes): right for the single-member gzip layers
    /// every builder writes, up to 4 GiB. The write pass checks size and diff_id, so a
    /// wrong guess fails with [`ArchiveError::TrailerSizeWrong`] instead of a bad archive;
    /// use it only where the output can be written again (a file, not a pipe).
    GzipTrailer,
}

/// How to write an archive.
#[derive(Clone, Copy, Debug, Default)]
pub struct SaveOptions<'a> {
    /// The layout.
    pub format: Format,
    /// The compression of the whole stream.
    pub compression: Compression,
    /// Of a multi-platform image, a docker-archive holds this platform (default: this
    /// host's); an OCI archive holds the whole stored index, or just this platform.
    pub platform: Option<&'a Platform>,
    /// Where gzip layers' uncompressed sizes come from (docker format).
    pub sizes: SizeMode,
    /// Referrers in the store to write beside the images (OCI format only).
    pub referrers: &'a [SaveReferrer],
}

/// A referrer to save: its manifest in the store, and the tag it is found under when it
/// has no `subject` (cosign's `sha256-<hex>.sig`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaveReferrer {
    /// The referrer's manifest.
    pub manifest: Descriptor,
    /// Its cosign-style tag, if that is how it names its image.
    pub tag: Option<String>,
}

/// Write `images` from `store` as one archive to `out`; `out` receives nothing when an
/// image cannot be saved (unknown blob, layer that does not match its diff_id).
pub fn save(
    store: &(dyn BlobRead + Sync),
    images: &[SaveImage],
    opts: &SaveOptions<'_>,
    out: &mut dyn Write,
) -> Result<(), ArchiveError> {
    let format = opts.format;
    let prepared = prepare::prepare(store, images, format, opts.platform, opts.sizes)?;
    let enc = compress::Encoder::new(out, opts.compression).map_err(ArchiveError::Write)?;
    let mut builder = tar::Builder::new(enc);
    match format {
        Format::Docker | Format::DockerEngine => docker_save::write(
            &prepared,
            format,
            &mut builder,
            &mut docker_save::Inline(store),
        )?,
        Format::Oci => oci_save::write(store, &prepared, opts.referrers, &mut builder)?,
    }
    let enc = builder.into_inner().map_err(ArchiveError::Write)?;
    enc.finish().map_err(ArchiveError::Write)?;
    Ok(())
}

/// [`save`] into a file: a plain docker-archive's layers are decoded on every core at
/// once, each written at its place in the file; other archives stream into it. The file
/// is written from its start and is unusable when this fails.
pub fn save_file(
    store: &(dyn BlobRead + Sync),
    images: &[SaveImage],
    opts: &SaveOptions<'_>,
    file: &std::fs::File,
) -> Result<(), ArchiveError> {
    let format = opts.format;
    if format != Format::Docker || opts.compression != Compression::None {
        let mut w = io::BufWriter::with_capacity(1 << 20, file);
        save(store, images, opts, &mut w)?;
        return w.flush().map_err(ArchiveError::Write);
    }
    let prepared = prepare::prepare(store, images, format, opts.platform, opts.sizes)?;
    let mut builder = tar::Builder::new(placed::PositionedWriter::new(file));
    let mut gaps = placed::Gaps::default();
    docker_save::write(&prepared, format, &mut builder, &mut gaps)?;
    builder
        .into_inner()
        .and_then(|mut w| w.flush())
        .map_err(ArchiveError::Write)?;
    gaps.fill(store, file)
}

/// The header of a regular file entry (mode 0644, time 0), before its path is set.
fn file_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header
}

/// Append one regular file to the tar being written.
fn append_file<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
) -> Result<(), ArchiveError> {
    let mut header = file_header(size);
    builder
        .append_data(&mut header, name, data)
        .map_err(ArchiveError::Write)
}

/// Append one directory to the tar being written.
fn append_dir<W: Write>(builder: &mut tar::Builder<W>, name: &str) -> Result<(), ArchiveError> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_size(0);
    header.set_mode(0o755);
    header.set_mtime(0);
    builder
        .append_data(&mut header, name, io::empty())
        .map_err(ArchiveError::Write)
}

/// docker's `RepoTags` for `names`: the tagged ones, in short form (`nginx:1.25`).
fn repo_tags(names: &[crate::oci::Reference]) -> Vec<String> {
    names
        .iter()
        .filter(|n| n.tag().is_some())
        .map(|n| n.familiar())
        .collect()
}
