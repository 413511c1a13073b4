//! Writes an OCI image layout (`oci-layout`, `blobs/sha256/…`, `index.json`) to a tar
//! stream: blobs byte for byte as stored, each once, and one `index.json` entry per name.
//! Like `docker save` ≥ 25 it adds a `manifest.json` pointing into `blobs/sha256/`, so
//! docker's classic image store (which needs it, whatever the version) loads it too; for a
//! multi-platform image saved whole, `manifest.json` names this host's platform (or the
//! first) while `index.json` names the whole index.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::{Value, json};

use super::prepare::Prepared;
use super::{ArchiveError, append_dir, append_file};
use crate::oci::{Descriptor, Digest, media};
use crate::store::{BlobRead, REF_NAME};

/// The annotation containerd (and docker ≥ 25) reads for an image's full name.
pub(super) const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Write the OCI layout entries of `images`.
pub(super) fn write<W: Write>(
    store: &dyn BlobRead,
    images: &[Prepared],
    referrers: &[super::SaveReferrer],
    builder: &mut tar::Builder<W>,
) -> Result<(), ArchiveError> {
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    append_file(builder, "oci-layout", layout.len() as u64, &layout[..])?;
    append_dir(builder, "blobs/")?;
    append_dir(builder, "blobs/sha256/")?;
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    let mut entries = Vec::new();
    let mut docker_manifest = Vec::new();
    for image in images {
        for node in image.tree.images() {
            for layer in node.layers() {
                if written.insert(layer.digest.clone()) {
                    let blob = store.open_blob(&layer.digest)?;
                    blob_entry(builder, &layer.digest, layer.size, blob)?;
                }
            }
            let config = node.config_desc().expect("an image manifest");
            let config_bytes = node.config.as_ref().expect("prepare reads configs");
            for (d, bytes) in [(config, config_bytes), (&node.desc, &node.bytes)] {
                if written.insert(d.digest.clone()) {
                    blob_entry(builder, &d.digest, bytes.len() as u64, &bytes[..])?;
                }
            }
        }
        // Names point at the whole index when there is one, else at the manifest.
        let top = &image.tree.top;
        if image.tree.is_index() && written.insert(top.desc.digest.clone()) {
            blob_entry(
                builder,
                &top.desc.digest,
                top.bytes.len() as u64,
                &top.bytes[..],
            )?;
        }
        if image.names.is_empty() {
            entries.push(index_entry(&top.desc, None));
        }
        let tags = super::repo_tags(&image.names);
        docker_manifest.push(json!({
            "Config": format!("blobs/sha256/{}", image.config().digest.hex()),
            "RepoTags": if tags.is_empty() { Value::Null } else { tags.into() },
            "Layers": image
                .layers()
                .iter()
                .map(|l| format!("blobs/sha256/{}", l.digest.hex()))
                .collect::<Vec<_>>(),
        }));
        for name in &image.names {
            entries.push(index_entry(&top.desc, Some(&name.to_string())));
        }
    }
    // The manifests and indexes the archive holds: only their referrers go in.
    let held: BTreeSet<Digest> = images
        .iter()
        .flat_map(|i| super::referrers::manifests_of(&i.tree))
        .cloned()
        .collect();
    super::referrers::write(store, referrers, &held, &mut written, &mut entries, builder)?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": entries,
    });
    let index = serde_json::to_vec(&index).expect("JSON serializes");
    append_file(builder, "index.json", index.len() as u64, &index[..])?;
    let manifest = serde_json::to_vec(&docker_manifest).expect("JSON serializes");
    append_file(
        builder,
        "manifest.json",
        manifest.len() as u64,
        &manifest[..],
    )
}

pub(super) fn blob_entry<W: Write>(
    builder: &mut tar::Builder<W>,
    digest: &Digest,
    size: u64,
    data: impl std::io::Read,
) -> Result<(), ArchiveError> {
    let mut r = super::docker_save::HashRead::new(data.take(size));
    let name = format!("blobs/sha256/{}", digest.hex());
    append_file(builder, &name, size, &mut r)?;
    let (actual, n) = r.finish();
    if &actual != digest || n != size {
        return Err(ArchiveError::Mismatch {
            entry: name,
            what: "stored blob digest",
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

fn index_entry(d: &Descriptor, name: Option<&str>) -> Value {
    let mut v = json!({
        "mediaType": d.media_type,
        "digest": d.digest.to_string(),
        "size": d.size,
    });
    if let Some(name) = name {
        v["annotations"] = json!({ REF_NAME: name, CONTAINERD_NAME: name });
    }
    v
}
