//! The form stores keep an image in, shared by pull (from a registry) and load (from an
//! archive): Docker schema 2 manifests rewritten as OCI, and an index kept only with the
//! entries the store holds, so a stored index never names a manifest the store lacks.

use std::collections::HashMap;

use bytes::Bytes;

use super::tree::ImageTree;
use crate::oci::{Descriptor, Digest, ManifestError, docker_list_to_oci, media, storable};

/// An image in stored form.
#[derive(Clone, Debug)]
pub struct StoredForm {
    /// What a catalogue entry points at.
    pub target: Descriptor,
    /// Docker's image ID: the config digest, or the index digest for a kept index.
    pub id: Digest,
    /// Manifest documents to write, entries before their index.
    pub documents: Vec<(Digest, Bytes)>,
}

/// The stored form of `tree` (a walk without nested indexes). With `keep_index` an index
/// stays an index (rewritten when entries were left out or converted); without, the
/// tree's first image is stored alone.
pub fn stored_form(tree: &ImageTree, keep_index: bool) -> Result<StoredForm, ManifestError> {
    let top_config = || tree.images().find_map(|n| n.config_desc()).cloned();
    if !tree.is_index() {
        let (target, bytes) = storable(tree.top.desc.clone(), tree.top.bytes.clone())?;
        let id = top_config().map_or_else(|| target.digest.clone(), |c| c.digest);
        return Ok(StoredForm {
            documents: vec![(target.digest.clone(), bytes)],
            target,
            id,
        });
    }
    let mut documents = Vec::new();
    let mut stored_children = Vec::new();
    for child in &tree.children {
        let (stored, bytes) = storable(child.desc.clone(), child.bytes.clone())?;
        documents.push((stored.digest.clone(), bytes));
        stored_children.push((child.desc.digest.clone(), stored));
    }
    if !keep_index {
        let id = top_config().map(|c| c.digest);
        let (_, target) = stored_children.swap_remove(0);
        return Ok(StoredForm {
            id: id.unwrap_or_else(|| target.digest.clone()),
            target,
            documents,
        });
    }
    let changed = !tree.whole || stored_children.iter().any(|(orig, d)| *orig != d.digest);
    let (target, bytes) = if changed || tree.top.desc.media_type != media::OCI_INDEX {
        let converted: HashMap<Digest, (Digest, u64)> = stored_children
            .iter()
            .map(|(orig, d)| (orig.clone(), (d.digest.clone(), d.size)))
            .collect();
        let bytes = Bytes::from(docker_list_to_oci(&tree.top.bytes, &converted)?);
        let desc = Descriptor {
            media_type: media::OCI_INDEX.to_string(),
            digest: Digest::of(&bytes),
            size: bytes.len() as u64,
            platform: None,
        };
        (desc, bytes)
    } else {
        let desc = Descriptor {
            platform: None,
            ..tree.top.desc.clone()
        };
        (desc, tree.top.bytes.clone())
    };
    documents.push((target.digest.clone(), bytes));
    Ok(StoredForm {
        id: target.digest.clone(),
        target,
        documents,
    })
}
