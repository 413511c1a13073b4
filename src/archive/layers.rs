//! A stored layer as the uncompressed tar a docker-archive holds, and the config's list of
//! what those tars hash to (`rootfs.diff_ids`): shared by reading images for a save,
//! writing them, and checking loaded ones.

use std::io::{self, Read};

use serde_json::Value;

use super::ArchiveError;
use super::compress::layer_reader;
use crate::oci::{Descriptor, Digest, media};
use crate::store::BlobRead;

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

/// Whether the layer is stored as a plain tar.
pub(super) fn is_plain_tar(media_type: &str) -> bool {
    media_type == media::OCI_LAYER_TAR
        || media_type == "application/vnd.docker.image.rootfs.diff.tar"
}

/// The layer's bytes, decoded from its stored compression.
pub(super) fn decoded(
    store: &dyn BlobRead,
    layer: &Descriptor,
) -> Result<Box<dyn Read + Send>, ArchiveError> {
    let raw = store.open_blob(&layer.digest)?;
    layer_reader(&layer.media_type, raw).map_err(|e| decode_error(layer, e))
}

/// A stored layer that does not decode, named.
pub(super) fn decode_error(layer: &Descriptor, e: io::Error) -> ArchiveError {
    ArchiveError::Malformed {
        entry: format!("stored layer {}", layer.digest),
        reason: format!("cannot decode it as {}: {e}", layer.media_type),
    }
}
