//! Signatures and attestations made by the tests, the way signing tools write them to a
//! registry without the referrers API: an OCI artifact manifest whose `subject` names the
//! signed manifest, listed in the fallback tag `sha256-<hex>` (an index of referrers, as
//! oras and notation maintain it), and cosign's own `sha256-<hex>.sig` tag holding an
//! ordinary OCI manifest of simple-signing layers. Nothing is downloaded.

use serde_json::json;

use super::faults::{Fault, FaultProxy, Rule};
use super::fixtures::{
    FixtureIndex, MediaFormat, hex_of, multi_platform, push_index_http, sha256_digest,
};
use super::registry::Registry;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The fallback tag of a manifest digest.
pub fn fallback_tag(digest: &str) -> String {
    format!("sha256-{}", hex_of(digest))
}

/// Push an artifact of `artifact_type` holding `payload`, whose subject is the manifest
/// `subject` (digest, media type, size) of `repo`, and list it in the subject's fallback
/// index. Returns the artifact's digest.
pub fn attach_artifact(
    reg: &Registry,
    repo: &str,
    subject: (&str, &str, u64),
    artifact_type: &str,
    payload: &[u8],
) -> String {
    let (digest, descriptor) = push_artifact(reg, repo, subject, artifact_type, payload);
    let tag = fallback_tag(subject.0);
    let mut entries = match reg.manifest_digest(repo, &tag) {
        Some(_) => {
            let (_, index) = reg.get_manifest(repo, &tag);
            let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
            index["manifests"].as_array().unwrap().clone()
        }
        None => Vec::new(),
    };
    entries.push(descriptor);
    let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries });
    reg.put_manifest(repo, &tag, OCI_INDEX, &serde_json::to_vec(&index).unwrap());
    digest
}

/// Push the artifact alone (by digest, in no index): what a registry with the referrers
/// API needs. Returns its digest and its descriptor as a referrers list names it.
pub fn push_artifact(
    reg: &Registry,
    repo: &str,
    subject: (&str, &str, u64),
    artifact_type: &str,
    payload: &[u8],
) -> (String, serde_json::Value) {
    let config = reg.put_blob(repo, b"{}");
    let layer = reg.put_blob(repo, payload);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2 },
        "layers": [{ "mediaType": artifact_type, "digest": layer, "size": payload.len() }],
        "subject": { "mediaType": subject.1, "digest": subject.0, "size": subject.2 },
        "annotations": { "org.opencontainers.image.created": "2026-01-01T00:00:00Z" },
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = sha256_digest(&bytes);
    reg.put_manifest(repo, &digest, OCI_MANIFEST, &bytes);
    let descriptor = json!({
        "mediaType": OCI_MANIFEST,
        "digest": digest,
        "size": bytes.len(),
        "artifactType": artifact_type,
    });
    (digest, descriptor)
}

/// A referrers API answer listing `descriptors`.
pub fn referrers_index(descriptors: &[serde_json::Value]) -> Vec<u8> {
    serde_json::to_vec(
        &json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors }),
    )
    .unwrap()
}

/// Makes `proxy` a registry with the referrers API (distribution 2.8 has none): each
/// `(subject, descriptors)` is answered with that listing, any other subject with an empty
/// one.
pub fn serve_referrers(proxy: &FaultProxy, lists: &[(&str, Vec<serde_json::Value>)]) {
    let answer = |descriptors: &[serde_json::Value]| {
        Fault::Serve(200, OCI_INDEX.into(), referrers_index(descriptors))
    };
    for (subject, descriptors) in lists {
        proxy.add(Rule::new(
            "GET",
            &format!("/referrers/{subject}"),
            answer(descriptors),
        ));
    }
    proxy.add(Rule::new("GET", "/referrers/", answer(&[])));
}

/// Push a cosign-style signature of `subject` as the tag `sha256-<hex>.sig`; returns the
/// tag's manifest digest.
pub fn cosign_sign(reg: &Registry, repo: &str, subject: &str, signature: &str) -> String {
    let payload = serde_json::to_vec(&json!({
        "critical": {
            "identity": { "docker-reference": repo },
            "image": { "docker-manifest-digest": subject },
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
    .unwrap();
    let layer = reg.put_blob(repo, &payload);
    let config_bytes = serde_json::to_vec(&json!({
        "architecture": "", "os": "", "config": {},
        "rootfs": { "type": "layers", "diff_ids": [layer] },
    }))
    .unwrap();
    let config = reg.put_blob(repo, &config_bytes);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_bytes.len() },
        "layers": [{
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "digest": layer,
            "size": payload.len(),
            "annotations": { "dev.cosignproject.cosign/signature": signature },
        }],
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    reg.put_manifest(
        repo,
        &format!("{}.sig", fallback_tag(subject)),
        OCI_MANIFEST,
        &bytes,
    )
}

pub const SIGNATURE: &str = "application/vnd.example.signature.v1+json";
pub const SBOM: &str = "application/spdx+json";

/// What signing one release left in the source.
pub struct Signed {
    pub index: FixtureIndex,
    /// The artifact signing the index.
    pub signature: String,
    /// The SBOM of the linux/amd64 manifest.
    pub sbom: String,
    /// cosign's `.sig` tag of the index, and its digest.
    pub cosign: (String, String),
}

/// Push release `v` of `team/app` (two platforms) and sign it: an artifact on the index
/// and an SBOM on the amd64 manifest, both in fallback indexes, and a cosign `.sig` tag.
pub fn release(reg: &Registry, v: &str) -> Signed {
    let index = multi_platform(v, MediaFormat::Oci);
    push_index_http(reg, "team/app", v, &index);
    let signature = attach_artifact(
        reg,
        "team/app",
        index.subject(),
        SIGNATURE,
        format!("signature of {v}").as_bytes(),
    );
    let amd64 = index.image("linux/amd64");
    let sbom = attach_artifact(
        reg,
        "team/app",
        amd64.subject(),
        SBOM,
        format!("sbom of {v} amd64").as_bytes(),
    );
    let cosign = cosign_sign(reg, "team/app", &index.digest, &format!("MEUC{v}"));
    Signed {
        cosign: (format!("{}.sig", fallback_tag(&index.digest)), cosign),
        index,
        signature,
        sbom,
    }
}

/// The digests the fallback index `tag` of `repo` lists, sorted.
pub fn listed(reg: &Registry, repo: &str, tag: &str) -> Vec<String> {
    let (_, bytes) = reg.get_manifest(repo, tag);
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mut out: Vec<String> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

/// Sign the referrer `referrer` of `repo` (an SBOM, say) with an artifact of its own, listed
/// in the referrer's fallback index: a referrer of a referrer. Returns its digest.
pub fn sign_referrer(reg: &Registry, repo: &str, referrer: &str, payload: &[u8]) -> String {
    let (media_type, bytes) = reg.get_manifest(repo, referrer);
    attach_artifact(
        reg,
        repo,
        (referrer, &media_type, bytes.len() as u64),
        SIGNATURE,
        payload,
    )
}

/// The digests of the `index.json` entries without a name (the referrers) in the OCI
/// archive at `path`, sorted.
pub fn archive_referrers(path: &std::path::Path) -> Vec<String> {
    let mut tar = tar::Archive::new(std::fs::File::open(path).unwrap());
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("index.json") {
            let index: serde_json::Value = serde_json::from_reader(&mut entry).unwrap();
            let mut out: Vec<String> = index["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["annotations"]["org.opencontainers.image.ref.name"].is_null())
                .map(|m| m["digest"].as_str().unwrap().to_string())
                .collect();
            out.sort();
            return out;
        }
    }
    panic!("no index.json in {}", path.display());
}
