//! Matches up the entries of an OCI image layout tar (imagectl, skopeo `oci-archive:`,
//! docker ≥ 25) into images, keeping manifests and blobs byte for byte (Docker-typed
//! manifests are converted the way pull stores them).

use std::collections::HashMap;

use serde_json::Value;

use super::ArchiveError;
use super::collected::{Collected, Loaded, Outcome};
use super::entries::{blob_entry, blob_name, queue, walk_failed};
use super::layers::{diff_ids, is_plain_tar};
use super::oci_save::CONTAINERD_NAME;
use crate::image::{ImageTree, Node, Selection, Walk, local, stored_form};
use crate::oci::{Descriptor, Digest, Manifest, Reference, media};
use crate::store::{CatalogEntry, REF_NAME};

/// Every image `index.json` names, verified against the entries.
pub(super) fn assemble(c: &Collected) -> Result<Outcome, ArchiveError> {
    match c.json.get("oci-layout") {
        None => {
            return Err(ArchiveError::MissingEntry {
                entry: "oci-layout".into(),
                detail: " (an OCI layout needs it next to index.json)".into(),
            });
        }
        Some(bytes) => {
            let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
            let ver = v.get("imageLayoutVersion").and_then(Value::as_str);
            if !ver.is_some_and(|v| v.starts_with("1.")) {
                return Err(ArchiveError::Malformed {
                    entry: "oci-layout".into(),
                    reason: format!("unsupported imageLayoutVersion {ver:?}"),
                });
            }
        }
    }
    let index_bytes = &c.json["index.json"];
    let malformed = |reason: String| ArchiveError::Malformed {
        entry: "index.json".into(),
        reason,
    };
    let index: Value = serde_json::from_slice(index_bytes)
        .map_err(|e| malformed(format!("not JSON: {}", crate::oci::json_error_text(&e))))?;
    let Manifest::Index { manifests, .. } = Manifest::parse(index_bytes, Some(media::OCI_INDEX))
        .map_err(|source| ArchiveError::Manifest {
            entry: "index.json".into(),
            source,
        })?
    else {
        return Err(malformed("not an image index".into()));
    };
    let raw_entries = index
        .get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if manifests.is_empty() {
        return Err(ArchiveError::Empty);
    }
    let mut out = Outcome::default();
    // Each target once, however many names point at it.
    let mut done: HashMap<Digest, (Descriptor, Digest)> = HashMap::new();
    for (desc, raw) in manifests.iter().zip(raw_entries) {
        if super::referrers::take(c, desc, &raw, &mut out)? {
            continue;
        }
        let (target, id) = match done.get(&desc.digest) {
            Some(t) => t.clone(),
            None => {
                let t = add_target(c, desc, &mut out)?;
                done.insert(desc.digest.clone(), t.clone());
                t
            }
        };
        let annotation = |k: &str| {
            raw.pointer(&format!("/annotations/{}", k.replace('/', "~1")))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let full = annotation(CONTAINERD_NAME)
            .or_else(|| annotation(REF_NAME).filter(|n| n.contains('/') || n.contains(':')))
            .and_then(|n| Reference::parse(&n).ok());
        let mut entry = CatalogEntry::new(full.clone(), target.clone(), None);
        let mut foreign = None;
        if full.is_none()
            && let Some(n) = annotation(REF_NAME)
        {
            entry.annotations.insert(REF_NAME.to_string(), n.clone());
            foreign = Some(n);
        }
        out.entries.push(entry);
        out.loaded.push(Loaded {
            name: full,
            foreign,
            id,
        });
    }
    Ok(out)
}

/// Add a manifest or index and everything it needs; returns the stored target and the ID.
fn add_target(
    c: &Collected,
    desc: &Descriptor,
    out: &mut Outcome,
) -> Result<(Descriptor, Digest), ArchiveError> {
    let walk = Walk {
        select: Selection::All,
        configs: true,
    };
    let tree = local(ImageTree::read(c, desc, &walk)).map_err(walk_failed)?;
    for node in tree.images() {
        add_image(c, node, out)?;
    }
    let stored = stored_form(&tree, true).map_err(|source| ArchiveError::Manifest {
        entry: blob_name(&desc.digest),
        source,
    })?;
    out.documents.extend(
        stored
            .documents
            .into_iter()
            .map(|(digest, bytes)| (digest, bytes.to_vec())),
    );
    Ok((stored.target, stored.id))
}

/// Check an image's config and layers are in the archive with the sizes the manifest
/// says, and that uncompressed layers are the config's diff_ids.
fn add_image(c: &Collected, node: &Node, out: &mut Outcome) -> Result<(), ArchiveError> {
    let manifest = blob_name(&node.desc.digest);
    let config = node.config_desc().expect("an image manifest");
    let config_bytes = node.config.as_ref().expect("the walk read configs");
    let layers = node.layers();
    out.documents
        .push((config.digest.clone(), config_bytes.to_vec()));
    let ids = diff_ids(config_bytes).map_err(|reason| ArchiveError::Malformed {
        entry: blob_name(&config.digest),
        reason,
    })?;
    if ids.len() != layers.len() {
        return Err(ArchiveError::Malformed {
            entry: blob_name(&config.digest),
            reason: format!(
                "rootfs.diff_ids lists {} layers, the manifest {}",
                ids.len(),
                layers.len()
            ),
        });
    }
    for (index, (layer, id)) in layers.iter().zip(ids).enumerate() {
        let (name, digest) = blob_entry(c, layer, &format!("{manifest} names it as a layer"))?;
        let uncompressed = if is_plain_tar(&layer.media_type) {
            Some(digest.clone())
        } else {
            // Not a compression imagectl decodes: nothing to compare.
            c.decoded(&name, &digest)?.map(|(d, _)| d)
        };
        if let Some(actual) = uncompressed
            && actual != id
        {
            return Err(ArchiveError::DiffIdMismatch {
                entry: name,
                index,
                expected: id,
                actual,
            });
        }
        queue(c, out, &name, digest);
    }
    Ok(())
}
