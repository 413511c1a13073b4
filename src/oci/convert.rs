//! Docker schema 2 → OCI conversion of manifests and manifest lists.
//!
//! The embedded store is an OCI image layout, and layout readers built on
//! containers/image (skopeo, podman) skip index entries with Docker media types. So a
//! Docker image is stored as the equivalent OCI manifest: the same config and layer blobs
//! (byte for byte, hence the same image ID and diff_ids), only the media type strings
//! change, as `skopeo copy docker://… oci:…` does. What the registry served is still
//! recorded (the entry's source digest), so RepoDigests and "is this tag current" are
//! unaffected. Unknown fields (annotations, urls) are carried over untouched.

use std::collections::HashMap;

use serde_json::Value;

use super::digest::Digest;
use super::manifest::ManifestError;
use super::media;

/// The OCI media type for a Docker one (unknown types are kept).
pub fn oci_media_type(docker: &str) -> &str {
    match docker {
        media::DOCKER_MANIFEST => media::OCI_MANIFEST,
        media::DOCKER_MANIFEST_LIST => media::OCI_INDEX,
        media::DOCKER_CONFIG => media::OCI_CONFIG,
        media::DOCKER_LAYER_GZIP => media::OCI_LAYER_GZIP,
        "application/vnd.docker.image.rootfs.diff.tar" => media::OCI_LAYER_TAR,
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        }
        other => other,
    }
}

fn malformed(media_type: &str, reason: &str) -> ManifestError {
    ManifestError::Malformed {
        media_type: media_type.to_string(),
        json: serde::de::Error::custom(reason),
    }
}

fn retype(v: &mut Value) {
    if let Some(Value::String(mt)) = v.get_mut("mediaType") {
        *mt = oci_media_type(mt).to_string();
    }
}

/// A Docker schema 2 manifest rewritten as an OCI image manifest.
pub fn docker_manifest_to_oci(bytes: &[u8]) -> Result<Vec<u8>, ManifestError> {
    let mut doc: Value = serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed {
        media_type: media::DOCKER_MANIFEST.into(),
        json: e,
    })?;
    let obj = doc
        .as_object_mut()
        .ok_or_else(|| malformed(media::DOCKER_MANIFEST, "not a JSON object"))?;
    obj.insert("mediaType".into(), media::OCI_MANIFEST.into());
    if let Some(config) = obj.get_mut("config") {
        retype(config);
    }
    if let Some(Value::Array(layers)) = obj.get_mut("layers") {
        layers.iter_mut().for_each(retype);
    }
    Ok(serde_json::to_vec(&doc).expect("a JSON value serializes"))
}

/// The manifest as the OCI layout stores it: unchanged when it is OCI, converted when it
/// is Docker schema 2 (pull and load both store it this way). Keeps the platform.
pub fn storable(
    desc: super::Descriptor,
    bytes: bytes::Bytes,
) -> Result<(super::Descriptor, bytes::Bytes), ManifestError> {
    if desc.media_type != media::DOCKER_MANIFEST {
        return Ok((desc, bytes));
    }
    let converted = bytes::Bytes::from(docker_manifest_to_oci(&bytes)?);
    Ok((
        super::Descriptor {
            media_type: media::OCI_MANIFEST.to_string(),
            digest: Digest::of(&converted),
            size: converted.len() as u64,
            platform: desc.platform,
        },
        converted,
    ))
}

/// A Docker manifest list rewritten as an OCI index whose entries point at the converted
/// children: `children` maps each original child digest to its OCI digest and size.
/// Entries without a conversion (children not kept) are dropped, so the stored index
/// never names a manifest the store does not have.
pub fn docker_list_to_oci(
    bytes: &[u8],
    children: &HashMap<Digest, (Digest, u64)>,
) -> Result<Vec<u8>, ManifestError> {
    let mut doc: Value = serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed {
        media_type: media::DOCKER_MANIFEST_LIST.into(),
        json: e,
    })?;
    let obj = doc
        .as_object_mut()
        .ok_or_else(|| malformed(media::DOCKER_MANIFEST_LIST, "not a JSON object"))?;
    obj.insert("mediaType".into(), media::OCI_INDEX.into());
    if let Some(Value::Array(entries)) = obj.get_mut("manifests") {
        entries.retain_mut(|entry| {
            let original = entry
                .get("digest")
                .and_then(Value::as_str)
                .and_then(|d| d.parse::<Digest>().ok());
            match original.and_then(|d| children.get(&d)) {
                Some((digest, size)) => {
                    retype(entry);
                    entry["digest"] = digest.to_string().into();
                    entry["size"] = (*size).into();
                    true
                }
                None => false,
            }
        });
    }
    Ok(serde_json::to_vec(&doc).expect("a JSON value serializes"))
}

/// An index or manifest list with only the entries whose digest is in `keep`, everything
/// else (media type, annotations, entry order) unchanged: what a copy of some platforms of
/// a multi-platform image pushes. Its digest necessarily differs from the original's.
pub fn filter_index(
    bytes: &[u8],
    media_type: &str,
    keep: &[Digest],
) -> Result<Vec<u8>, ManifestError> {
    let mut doc: Value = serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed {
        media_type: media_type.into(),
        json: e,
    })?;
    let entries = doc
        .as_object_mut()
        .and_then(|o| o.get_mut("manifests"))
        .and_then(Value::as_array_mut)
        .ok_or_else(|| malformed(media_type, "no manifests array"))?;
    entries.retain(|entry| {
        entry
            .get("digest")
            .and_then(Value::as_str)
            .and_then(|d| d.parse::<Digest>().ok())
            .is_some_and(|d| keep.contains(&d))
    });
    Ok(serde_json::to_vec(&doc).expect("a JSON value serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Manifest;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    #[test]
    fn manifest_keeps_blobs_and_changes_types() {
        let docker = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":7,"digest":"{D1}"}},"layers":[{{"mediaType":"{}","size":9,"digest":"{D2}","urls":["http://x"]}}]}}"#,
            media::DOCKER_MANIFEST,
            media::DOCKER_CONFIG,
            media::DOCKER_LAYER_GZIP
        );
        let oci = docker_manifest_to_oci(docker.as_bytes()).unwrap();
        let m = Manifest::parse(&oci, None).unwrap();
        assert_eq!(m.media_type(), media::OCI_MANIFEST);
        let blobs = m.blobs();
        assert_eq!(blobs[0].digest.to_string(), D1);
        assert_eq!(blobs[0].media_type, media::OCI_CONFIG);
        assert_eq!(blobs[1].digest.to_string(), D2);
        assert_eq!(blobs[1].media_type, media::OCI_LAYER_GZIP);
        assert!(String::from_utf8(oci).unwrap().contains("http://x"));
    }

    #[test]
    fn filtered_index_keeps_type_and_order() {
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","size":7,"digest":"{D1}"}},{{"mediaType":"{}","size":7,"digest":"{D2}"}},{{"mediaType":"{}","size":7,"digest":"{D3}"}}]}}"#,
            media::DOCKER_MANIFEST_LIST,
            media::DOCKER_MANIFEST,
            media::DOCKER_MANIFEST,
            media::DOCKER_MANIFEST
        );
        let keep = [D3.parse().unwrap(), D1.parse().unwrap()];
        let out = filter_index(list.as_bytes(), media::DOCKER_MANIFEST_LIST, &keep).unwrap();
        let Manifest::Index {
            media_type,
            manifests,
            ..
        } = Manifest::parse(&out, None).unwrap()
        else {
            panic!("not an index")
        };
        assert_eq!(media_type, media::DOCKER_MANIFEST_LIST);
        let digests: Vec<String> = manifests.iter().map(|m| m.digest.to_string()).collect();
        assert_eq!(digests, vec![D1, D3]);
        assert!(filter_index(b"{}", media::OCI_INDEX, &keep).is_err());
    }

    /// An index rewritten for the store or a copy of some platforms keeps its `subject`:
    /// the rewrite is a new document that still refers to the same manifest.
    #[test]
    fn rewritten_indexes_keep_their_subject() {
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","size":7,"digest":"{D1}"}},{{"mediaType":"{}","size":7,"digest":"{D2}"}}],"subject":{{"mediaType":"{}","size":9,"digest":"{D3}"}}}}"#,
            media::DOCKER_MANIFEST_LIST,
            media::DOCKER_MANIFEST,
            media::DOCKER_MANIFEST,
            media::OCI_MANIFEST
        );
        let filtered = filter_index(
            list.as_bytes(),
            media::DOCKER_MANIFEST_LIST,
            &[D1.parse().unwrap()],
        )
        .unwrap();
        let children = HashMap::from([(D1.parse().unwrap(), (D2.parse().unwrap(), 42))]);
        let converted = docker_list_to_oci(list.as_bytes(), &children).unwrap();
        for rewritten in [filtered, converted] {
            let m = Manifest::parse(&rewritten, None).unwrap();
            let s = m.subject().expect("the subject stays");
            assert_eq!((s.digest.to_string().as_str(), s.size), (D3, 9));
            assert_eq!(s.media_type, media::OCI_MANIFEST);
        }
    }

    #[test]
    fn list_points_at_converted_children() {
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","size":7,"digest":"{D1}","platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"{}","size":7,"digest":"{D2}","platform":{{"architecture":"arm64","os":"linux"}}}}]}}"#,
            media::DOCKER_MANIFEST_LIST,
            media::DOCKER_MANIFEST,
            media::DOCKER_MANIFEST
        );
        let children = HashMap::from([(D1.parse().unwrap(), (D3.parse().unwrap(), 42))]);
        let oci = docker_list_to_oci(list.as_bytes(), &children).unwrap();
        let m = Manifest::parse(&oci, None).unwrap();
        assert_eq!(m.media_type(), media::OCI_INDEX);
        let picked = m.select(&"linux/amd64".parse().unwrap());
        assert_eq!(picked[0].digest.to_string(), D3);
        assert_eq!(picked[0].size, 42);
        assert_eq!(picked[0].media_type, media::OCI_MANIFEST);
        assert!(m.select(&"linux/arm64".parse().unwrap()).is_empty());
    }
}
