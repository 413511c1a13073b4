//! `save --platform P --referrers` writes the referrers of what the archive holds — the
//! platform manifest kept, and referrers of those — and none of the platforms left out,
//! whose referrers it does not ask the registry about either.

use crate::support::cli::succeeded as ok;
use crate::support::fixtures::{MediaFormat, multi_platform, push_index_http};
use crate::support::scenario::Scenario;
use crate::support::signing::{
    archive_referrers, attach_artifact, fallback_tag, release, sign_referrer,
};
use crate::support::{Registry, TestEnv};

const SBOM: &str = "application/spdx+json";
const SIGNATURE: &str = "application/vnd.example.signature.v1+json";

/// Attach to the manifest `subject` of team/app in `reg` an artifact holding `payload`.
fn attach(reg: &Registry, subject: (&str, &str, u64), kind: &str, payload: &str) -> String {
    attach_artifact(reg, "team/app", subject, kind, payload.as_bytes())
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
    assert_eq!(archive_referrers(&archive), kept);

    let fresh = TestEnv::new();
    let loaded = ok(&fresh.run(&["load", "-i", archive.to_str().unwrap()]));
    assert!(loaded.contains("Loaded 1 referrers"), "{loaded}");
}

/// `save --platform linux/amd64 --referrers` from the registry asks it about the amd64
/// manifest and its referrers only (one `GET` of its fallback index, one of its SBOM's;
/// none of arm64's nor of the index's, which the archive leaves out), writes the amd64 SBOM
/// and its signature, and keeps nothing of that partial set in the store: a whole save
/// afterwards asks again and writes every referrer.
#[test]
fn a_platform_save_asks_the_registry_about_that_platform_only() {
    let sc = Scenario::new().registry();
    let reg = sc.reg();
    let s = release(reg, "1.0.0");
    let arm64 = s.index.image("linux/arm64/v8");
    let arm64_sbom = attach(
        reg,
        (
            &arm64.manifest_digest,
            &arm64.manifest_media_type,
            arm64.manifest_size,
        ),
        SBOM,
        "sbom of arm64",
    );
    let sbom_signature = sign_referrer(reg, "team/app", &s.sbom, b"signature of the sbom");
    let image = sc.reference("team/app:1.0.0");
    sc.ok(&["pull", "--all-platforms", &image]);
    let dir = tempfile::tempdir().unwrap();
    let save = |file: &str, platform: &[&str]| {
        let archive = dir.path().join(file);
        ok(&sc
            .imagectl()
            .args(["save", "--format", "oci", "--referrers"])
            .args(platform)
            .arg("-o")
            .arg(&archive)
            .arg(&image)
            .output()
            .unwrap());
        archive
    };

    let mark = reg.mark();
    let amd64_tar = save("amd64.tar", &["--platform", "linux/amd64"]);
    let mut expected = vec![s.sbom.clone(), sbom_signature.clone()];
    expected.sort();
    assert_eq!(archive_referrers(&amd64_tar), expected);
    let index_of = |d: &str| format!("/manifests/{}", fallback_tag(d));
    let amd64 = &s.index.image("linux/amd64").manifest_digest;
    let gets = |d: &str| reg.count_since(mark, "GET", &index_of(d));
    assert_eq!(gets(amd64), 1, "{:?}", reg.requests_since(mark));
    assert_eq!(gets(&s.sbom), 1, "{:?}", reg.requests_since(mark));
    assert_eq!(gets(&arm64.manifest_digest), 0, "arm64 was not saved");
    assert_eq!(gets(&s.index.digest), 0, "the index was not saved");
    assert_eq!(reg.count_since(mark, "HEAD", &s.cosign.0), 0);
    let index_get = format!("/manifests/{}", s.index.digest);
    assert_eq!(
        reg.count_since(mark, "GET", &index_get),
        0,
        "the store has it"
    );

    let all_tar = save("all.tar", &[]);
    let mut all = vec![
        s.signature.clone(),
        s.sbom.clone(),
        s.cosign.1.clone(),
        arm64_sbom,
        sbom_signature,
    ];
    all.sort();
    assert_eq!(archive_referrers(&all_tar), all);
}
