//! `save --platform P --referrers` writes the referrers of what the archive holds — the
//! platform manifest kept, and referrers of those — and none of the platforms left out.

use std::path::Path;

use crate::support::cli::succeeded as ok;
use crate::support::fixtures::{MediaFormat, multi_platform, push_index_http};
use crate::support::signing::attach_artifact;
use crate::support::{Registry, TestEnv};

const SBOM: &str = "application/spdx+json";
const SIGNATURE: &str = "application/vnd.example.signature.v1+json";

/// Attach to the manifest `subject` of team/app in `reg` an artifact holding `payload`.
fn attach(reg: &Registry, subject: (&str, &str, u64), kind: &str, payload: &str) -> String {
    attach_artifact(reg, "team/app", subject, kind, payload.as_bytes())
}

/// The digests of the `index.json` entries without a name (the referrers) in the OCI
/// archive at `path`, sorted.
fn referrer_entries(path: &Path) -> Vec<String> {
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

/// A two-platform release with a signature of its index and an SBOM of each platform
/// manifest, saved with `--platform linux/amd64 --referrers`: the archive lists exactly the
/// amd64 SBOM (not the index's signature, whose index is not saved, nor arm64's SBOM), and
/// `load` keeps that one.
#[test]
fn save_platform_writes_only_the_referrers_of_what_it_saves() {
    let reg = Registry::start();
    let index = multi_platform("1.0.0", MediaFormat::Oci);
    push_index_http(&reg, "team/app", "1.0.0", &index);
    attach(&reg, index.subject(), SIGNATURE, "signature of the index");
    let mut kept = Vec::new();
    for platform in ["linux/amd64", "linux/arm64/v8"] {
        let m = index.image(platform);
        let subject = (
            m.manifest_digest.as_str(),
            m.manifest_media_type.as_str(),
            m.manifest_size,
        );
        let sbom = attach(&reg, subject, SBOM, &format!("sbom of {platform}"));
        if platform == "linux/amd64" {
            kept.push(sbom);
        }
    }

    let image = format!("{}/team/app:1.0.0", reg.host());
    let env = TestEnv::new();
    ok(&env.run(&["pull", "--all-platforms", &image]));
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("amd64.tar");
    ok(&env
        .imagectl()
        .args(["save", "--format", "oci", "--platform", "linux/amd64"])
        .args(["--referrers", "-o"])
        .arg(&archive)
        .arg(&image)
        .output()
        .unwrap());
    assert_eq!(referrer_entries(&archive), kept);

    let fresh = TestEnv::new();
    let loaded = ok(&fresh
        .imagectl()
        .args(["load", "-i"])
        .arg(&archive)
        .output()
        .unwrap());
    assert!(loaded.contains("Loaded 1 referrers"), "{loaded}");
}
