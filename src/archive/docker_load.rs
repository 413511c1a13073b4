//! Matches up the entries of a docker-archive (`docker save`, skopeo, podman; docker ≥ 25
//! archives whose `manifest.json` points into `blobs/sha256/`) into OCI images: each
//! uncompressed layer is stored as an OCI tar layer whose digest is its diff_id (a gzip or
//! zstd one, as buildx writes, as that compressed OCI layer), the config
//! byte for byte (so the image ID is docker's), under a new OCI manifest.

use serde::Deserialize;
use serde_json::json;

use super::ArchiveError;
use super::collected::{Collected, Loaded, Outcome};
use super::compress::Compression;
use super::layers::diff_ids;
use super::safe_tar::is_hex;
use crate::oci::{Descriptor, Digest, Reference, media};
use crate::store::CatalogEntry;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Item {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Every image `manifest.json` lists, verified against the entries.
pub(super) fn assemble(c: &Collected) -> Result<Outcome, ArchiveError> {
    let items: Vec<Item> =
        serde_json::from_slice(&c.json["manifest.json"]).map_err(|e| ArchiveError::Malformed {
            entry: "manifest.json".into(),
            reason: format!(
                "not docker's [{{Config, RepoTags, Layers}}] list: {}",
                crate::oci::json_error_text(&e)
            ),
        })?;
    if items.is_empty() {
        return Err(ArchiveError::Empty);
    }
    let mut out = Outcome::default();
    for item in items {
        let config_name = item.config.strip_prefix("./").unwrap_or(&item.config);
        let config_bytes = c
            .json
            .get(config_name)
            .ok_or_else(|| ArchiveError::MissingEntry {
                entry: config_name.to_string(),
                detail: " (manifest.json names it as a config)".into(),
            })?;
        let config_digest = Digest::of(config_bytes);
        let named = config_name
            .strip_suffix(".json")
            .or_else(|| config_name.strip_prefix("blobs/sha256/"))
            .filter(|h| is_hex(h));
        if let Some(hex) = named
            && hex != config_digest.hex()
        {
            return Err(ArchiveError::Mismatch {
                entry: config_name.to_string(),
                what: "digest",
                expected: format!("sha256:{hex}"),
                actual: config_digest.to_string(),
            });
        }
        let ids = diff_ids(config_bytes).map_err(|reason| ArchiveError::Malformed {
            entry: config_name.to_string(),
            reason,
        })?;
        if ids.len() != item.layers.len() {
            return Err(ArchiveError::Malformed {
                entry: config_name.to_string(),
                reason: format!(
                    "rootfs.diff_ids lists {} layers, manifest.json {}",
                    ids.len(),
                    item.layers.len()
                ),
            });
        }
        let mut layers = Vec::new();
        for (index, (path, id)) in item.layers.iter().zip(ids).enumerate() {
            let (digest, size) = c.blob(path).ok_or_else(|| ArchiveError::MissingEntry {
                entry: path.clone(),
                detail: " (manifest.json names it as a layer)".into(),
            })?;
            // docker's layers are uncompressed tars; a compressed one must decode to the
            // diff_id and is stored as the compressed OCI layer it is.
            let media_type = if digest == id {
                media::OCI_LAYER_TAR
            } else {
                match c.decoded(path, &digest)? {
                    Some((d, Compression::Gzip)) if d == id => media::OCI_LAYER_GZIP,
                    Some((d, Compression::Zstd)) if d == id => media::OCI_LAYER_ZSTD,
                    decoded => {
                        return Err(ArchiveError::DiffIdMismatch {
                            entry: path.clone(),
                            index,
                            expected: id,
                            actual: decoded.map_or(digest, |(d, _)| d),
                        });
                    }
                }
            };
            let path = path.strip_prefix("./").unwrap_or(path);
            match c.json.get(path) {
                Some(bytes) => out.documents.push((digest.clone(), bytes.clone())),
                None => out.blobs.push(digest.clone()),
            }
            layers.push(json!({
                "mediaType": media_type,
                "digest": digest.to_string(),
                "size": size,
            }));
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {
                "mediaType": media::OCI_CONFIG,
                "digest": config_digest.to_string(),
                "size": config_bytes.len(),
            },
            "layers": layers,
        });
        let manifest = serde_json::to_vec(&manifest).expect("JSON serializes");
        let target = Descriptor {
            media_type: media::OCI_MANIFEST.to_string(),
            digest: Digest::of(&manifest),
            size: manifest.len() as u64,
            platform: None,
        };
        out.documents
            .push((config_digest.clone(), config_bytes.clone()));
        out.documents.push((target.digest.clone(), manifest));
        let tags = item.repo_tags.unwrap_or_default();
        for tag in &tags {
            let name = Reference::parse(tag).map_err(|e| ArchiveError::Malformed {
                entry: "manifest.json".into(),
                reason: format!("RepoTag {tag:?}: {e}"),
            })?;
            out.entries
                .push(CatalogEntry::new(Some(name.clone()), target.clone(), None));
            out.loaded.push(Loaded {
                name: Some(name),
                foreign: None,
                id: config_digest.clone(),
            });
        }
        if tags.is_empty() {
            out.entries
                .push(CatalogEntry::new(None, target.clone(), None));
            out.loaded.push(Loaded {
                name: None,
                foreign: None,
                id: config_digest.clone(),
            });
        }
    }
    Ok(out)
}
