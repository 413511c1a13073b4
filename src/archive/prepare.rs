//! Reads the images to save from the store, for every format, before a byte is written: the
//! manifests and configs through the one walker over the store's content, and for the docker
//! format the size of every layer's uncompressed tar. A missing or undecodable blob fails
//! here (a layer whose content is not its diff_id fails while it is written).

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use bytes::Bytes;

use super::layers::{decode_error, decoded, diff_ids, is_plain_tar};
use super::{ArchiveError, Format, SaveImage, SizeMode};
use crate::image::{ImageTree, Node, Selection, Walk, WalkError, local, pick};
use crate::oci::{Descriptor, Digest, Manifest, Platform, Reference};
use crate::store::{BlobRead, Content, StoreError};

/// An image read from the store, ready to write.
pub(super) struct Prepared {
    /// The names it is saved under.
    pub names: Vec<Reference>,
    /// What is saved, configs read: the whole stored index (OCI format, no platform asked
    /// for), else one image manifest.
    pub tree: ImageTree,
    /// The image manifest docker's `manifest.json` names (the only one, but for a whole
    /// index, where it is this host's platform or the first).
    pub image: Node,
    /// Per layer of `image`: the diff_id and the uncompressed size (docker formats only).
    pub diffs: Vec<(Digest, u64)>,
    /// Layers whose size came from their gzip trailer (checked while written).
    pub guessed: BTreeSet<Digest>,
}

impl Prepared {
    /// The config of [`Self::image`].
    pub fn config(&self) -> &Descriptor {
        self.image
            .config_desc()
            .expect("a prepared image is an image manifest")
    }

    /// The config's bytes.
    pub fn config_bytes(&self) -> &Bytes {
        self.image.config.as_ref().expect("prepare reads configs")
    }

    /// The layers of [`Self::image`].
    pub fn layers(&self) -> &[Descriptor] {
        self.image.layers()
    }
}

/// Read every image's manifests and configs, and for the docker format the size of every
/// layer's uncompressed tar.
pub(super) fn prepare(
    store: &(dyn BlobRead + Sync),
    images: &[SaveImage],
    format: Format,
    platform: Option<&Platform>,
    mode: SizeMode,
) -> Result<Vec<Prepared>, ArchiveError> {
    let mut out = Vec::new();
    for image in images {
        let (tree, chosen) = read(store, image, format, platform)?;
        let node = tree
            .images()
            .find(|n| n.desc.digest == chosen)
            .cloned()
            .expect("the chosen image is in the tree");
        let mut diffs = Vec::new();
        if format == Format::Oci {
            for n in tree.images() {
                check_layers(store, n.layers())?;
            }
        } else {
            let config = node.config_desc().expect("an image manifest");
            let bytes = node.config.as_ref().expect("prepare reads configs");
            let ids = diff_ids(bytes).map_err(|reason| ArchiveError::Malformed {
                entry: format!("config {}", config.digest),
                reason,
            })?;
            if ids.len() != node.layers().len() {
                return Err(ArchiveError::Malformed {
                    entry: format!("config {}", config.digest),
                    reason: format!(
                        "rootfs.diff_ids lists {} layers, the manifest {}",
                        ids.len(),
                        node.layers().len()
                    ),
                });
            }
            // Sizes are filled in below, all layers at once.
            diffs = ids.into_iter().map(|id| (id, 0)).collect();
        }
        out.push(Prepared {
            names: image.names.clone(),
            tree,
            image: node,
            diffs,
            guessed: BTreeSet::new(),
        });
    }
    if format == Format::DockerEngine {
        // Layers go as stored: their size is the blob's.
        for p in &mut out {
            check_layers(store, p.image.layers())?;
            for ((_, size), layer) in p.diffs.iter_mut().zip(p.image.layers()) {
                *size = layer.size;
            }
        }
    }
    if format == Format::Docker {
        fill_sizes(store, &mut out, mode)?;
    }
    Ok(out)
}

/// The manifests and indexes an OCI archive of `image` (saved with `platform`) holds: the
/// subjects whose referrers it carries. A save asks the registry about these only, and
/// [`super::referrers::write`] writes the referrers of the same set.
pub fn held_manifests(
    store: &(dyn BlobRead + Sync),
    image: &SaveImage,
    platform: Option<&Platform>,
) -> Result<BTreeSet<Digest>, ArchiveError> {
    let (tree, _) = read(store, image, Format::Oci, platform)?;
    Ok(super::referrers::manifests_of(&tree).cloned().collect())
}

/// The stored image `image` names, as `format` saves it, and the digest of the image
/// manifest `manifest.json` names. A docker-archive holds one platform: the one asked
/// for, else this host's. An OCI archive holds the whole stored index unless a platform
/// is asked for.
fn read(
    store: &(dyn BlobRead + Sync),
    image: &SaveImage,
    format: Format,
    platform: Option<&Platform>,
) -> Result<(ImageTree, Digest), ArchiveError> {
    let unsupported = |reason: String| ArchiveError::Unsupported {
        image: image.query.clone(),
        reason,
    };
    let failed = |e: WalkError<StoreError>| match e {
        WalkError::Read { error, .. } => ArchiveError::Store(error),
        WalkError::Manifest { desc, source, .. } => ArchiveError::Manifest {
            entry: desc.digest.to_string(),
            source,
        },
        WalkError::NestedIndex { .. } => unsupported("an index inside an index".into()),
        WalkError::Platform(missing) => unsupported(format!(
            "the stored image has no {} platform (it has: {}); choose one with --platform",
            missing.wanted.join(", "),
            missing.available.join(", ")
        )),
    };
    let content = Content(store);
    let configs = |select| Walk {
        select,
        configs: true,
    };
    let top = local(Node::read(&content, &image.target)).map_err(failed)?;
    if matches!(top.manifest, Manifest::Image { .. }) {
        let chosen = top.desc.digest.clone();
        let tree = local(ImageTree::below(&content, top, &configs(Selection::All)));
        return Ok((tree.map_err(failed)?, chosen));
    }
    let wanted = platform.cloned().unwrap_or_else(Platform::host);
    if format == Format::Oci && platform.is_none() {
        let chosen = pick(
            &top.manifest,
            &Selection::Available(std::slice::from_ref(&wanted)),
        )
        .ok()
        .and_then(|p| p.first().map(|d| d.digest.clone()));
        let whole =
            local(ImageTree::below(&content, top, &configs(Selection::All))).map_err(failed)?;
        let Manifest::Index { manifests, .. } = &whole.top.manifest else {
            unreachable!("an index stays an index");
        };
        let chosen = match chosen.or_else(|| manifests.first().map(|d| d.digest.clone())) {
            Some(c) => c,
            None => return Err(unsupported("an empty index".into())),
        };
        return Ok((whole, chosen));
    }
    let one = std::slice::from_ref(&wanted);
    let mut tree = local(ImageTree::below(
        &content,
        top,
        &configs(Selection::Each(one)),
    ))
    .map_err(failed)?;
    let child = tree.children.pop().expect("one platform picked");
    let chosen = child.desc.digest.clone();
    Ok((
        ImageTree {
            top: child,
            children: Vec::new(),
            whole: true,
        },
        chosen,
    ))
}

/// Every layer is in the store at its recorded size (an OCI archive copies them as stored).
fn check_layers(store: &dyn BlobRead, layers: &[Descriptor]) -> Result<(), ArchiveError> {
    for l in layers {
        if store.blob_size(&l.digest)? != Some(l.size) {
            return Err(StoreError::MissingBlob(l.digest.clone()).into());
        }
    }
    Ok(())
}

/// The uncompressed size of every distinct layer: from its gzip trailer where `mode`
/// trusts it, else counted.
fn fill_sizes(
    store: &(dyn BlobRead + Sync),
    out: &mut [Prepared],
    mode: SizeMode,
) -> Result<(), ArchiveError> {
    let unique: BTreeMap<Digest, Descriptor> = out
        .iter()
        .flat_map(|p| {
            p.image
                .layers()
                .iter()
                .map(|l| (l.digest.clone(), l.clone()))
        })
        .collect();
    let mut guessed = BTreeMap::new();
    let mut exact = Vec::new();
    for l in unique.values() {
        match trailer_size(store, l, mode)? {
            Some(size) => {
                guessed.insert(l.digest.clone(), size);
            }
            None => exact.push(l),
        }
    }
    let mut sizes = uncompressed_sizes(store, &exact)?;
    for p in out.iter_mut() {
        p.guessed = p
            .image
            .layers()
            .iter()
            .filter(|l| guessed.contains_key(&l.digest))
            .map(|l| l.digest.clone())
            .collect();
    }
    sizes.append(&mut guessed);
    for p in out.iter_mut() {
        let layers = p.image.layers().to_vec();
        for ((_, size), layer) in p.diffs.iter_mut().zip(&layers) {
            *size = sizes[&layer.digest];
        }
    }
    Ok(())
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
