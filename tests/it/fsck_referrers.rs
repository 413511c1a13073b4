//! `fsck` checks the referrers the store keeps as it checks images: one missing from disk
//! is reported by its digest and its subject's, and fails the check.

use crate::support::cli::succeeded as ok;
use crate::support::fixtures::{
    MediaFormat, hex_of, multi_platform, push_index_http, sha256_digest,
};
use crate::support::signing::attach_artifact;
use crate::support::{Registry, TestEnv};

/// An SBOM of the linux/amd64 manifest, kept in the store by `save --referrers`, whose
/// payload blob is then deleted: fsck exits non-zero with a line naming the SBOM, its
/// subject and the missing layer, where before the deletion it found no problem.
#[test]
fn fsck_reports_a_kept_referrer_with_a_missing_blob() {
    let reg = Registry::start();
    let index = multi_platform("1.0.0", MediaFormat::Oci);
    push_index_http(&reg, "team/app", "1.0.0", &index);
    let amd64 = index.image("linux/amd64");
    let payload = b"sbom of the amd64 image, checked by fsck";
    let sbom = attach_artifact(
        &reg,
        "team/app",
        amd64.subject(),
        "application/spdx+json",
        payload,
    );
    let image = format!("{}/team/app:1.0.0", reg.host());
    let env = TestEnv::new();
    ok(&env.run(&["pull", "--all-platforms", &image]));
    let dir = tempfile::tempdir().unwrap();
    ok(&env
        .imagectl()
        .args(["save", "--format", "oci", "--referrers", "-o"])
        .arg(dir.path().join("app.tar"))
        .arg(&image)
        .output()
        .unwrap());
    let clean = ok(&env.imagectl().arg("fsck").output().unwrap());
    assert!(clean.contains("and 1 referrers"), "{clean}");
    assert!(clean.contains("no problems"), "{clean}");

    // The damage: the SBOM's payload blob is gone from disk.
    let layer = sha256_digest(payload);
    std::fs::remove_file(env.store.join("blobs/sha256").join(hex_of(&layer))).unwrap();

    let out = env.imagectl().arg("fsck").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = format!(
        "referrer {sbom} of {} (image {image}): layer {layer} is missing",
        amd64.manifest_digest
    );
    assert!(stdout.lines().any(|l| l == line), "{line}\n{stdout}");
    let json = env.run(&["fsck", "--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["problems"], serde_json::json!([line]), "{v}");
}
