//! `save --referrers` of an image whose store keeps none fetches them from its registry: the
//! same set a save from a store that keeps them writes, referrers of referrers included (a
//! signature of an SBOM), so the disconnected side can push and verify all of them.

use std::path::{Path, PathBuf};

use crate::support::cli::succeeded as ok;
use crate::support::scenario::Scenario;
use crate::support::signing::{
    Signed, archive_referrers, attach_artifact, fallback_tag, listed, release, sign_referrer,
};
use crate::support::{Registry, TestEnv};

/// Release 1.0.0 of `team/app` signed by [`release`], with an SBOM of its arm64 manifest
/// too and a signature of the amd64 SBOM; the digests of those two.
fn signed_twice(reg: &Registry) -> (Signed, String, String) {
    let s = release(reg, "1.0.0");
    let arm64 = s.index.image("linux/arm64/v8");
    let arm64_sbom = attach_artifact(
        reg,
        "team/app",
        (
            &arm64.manifest_digest,
            &arm64.manifest_media_type,
            arm64.manifest_size,
        ),
        crate::support::signing::SBOM,
        b"sbom of 1.0.0 arm64",
    );
    let sbom_signature = sign_referrer(reg, "team/app", &s.sbom, b"signature of the sbom");
    (s, arm64_sbom, sbom_signature)
}

/// `save --format oci --referrers [--platform P] -o DIR/FILE IMAGE` in `env`; the path.
fn save(env: &TestEnv, dir: &Path, file: &str, image: &str, platform: Option<&str>) -> PathBuf {
    let archive = dir.join(file);
    let mut cmd = env.imagectl();
    cmd.args(["save", "--format", "oci", "--referrers"]);
    if let Some(p) = platform {
        cmd.args(["--platform", p]);
    }
    ok(&cmd.arg("-o").arg(&archive).arg(image).output().unwrap());
    archive
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A save from the registry writes the signature of the amd64 SBOM beside the SBOM; loaded
/// into a fresh store it is kept (`Loaded 5 referrers`), and `push --referrers` from there
/// puts it in the target, listed in the SBOM's fallback index.
#[test]
fn a_registry_save_carries_a_signature_of_an_sbom() {
    let sc = Scenario::new().registry();
    let (s, arm64_sbom, sbom_signature) = signed_twice(sc.reg());
    let image = sc.reference("team/app:1.0.0");
    sc.ok(&["pull", "--all-platforms", &image]);
    let dir = tempfile::tempdir().unwrap();
    let mark = sc.reg().mark();
    let archive = save(sc.env(), dir.path(), "app.tar", &image, None);
    // Following costs one GET of each fallback index there is (the SBOM's), none for a
    // referrer without one (the index's signature).
    let index_of = |d: &str| format!("/manifests/{}", fallback_tag(d));
    let gets = |d: &str| sc.reg().count_since(mark, "GET", &index_of(d));
    assert_eq!(gets(&s.sbom), 1, "{:?}", sc.reg().requests_since(mark));
    assert_eq!(gets(&s.signature), 0, "{:?}", sc.reg().requests_since(mark));
    assert_eq!(
        archive_referrers(&archive),
        sorted(vec![
            s.signature.clone(),
            s.sbom.clone(),
            s.cosign.1.clone(),
            arm64_sbom,
            sbom_signature.clone(),
        ])
    );

    let fresh = TestEnv::new();
    let loaded = ok(&fresh.run(&["load", "-i", archive.to_str().unwrap()]));
    assert!(loaded.contains("Loaded 5 referrers"), "{loaded}");
    let dst = Registry::start();
    let target = format!("{}/mirror/app:1.0.0", dst.host());
    ok(&fresh.run(&["push", "--referrers", &image, &target]));
    assert_eq!(
        dst.manifest_digest("mirror/app", &sbom_signature),
        Some(sbom_signature.clone())
    );
    assert_eq!(
        listed(&dst, "mirror/app", &fallback_tag(&s.sbom)),
        [sbom_signature.as_str()]
    );
}

/// The same image saved with `--referrers` from its registry (a store that keeps none) and
/// from a store that keeps them (asking the registry nothing) writes the same referrers,
/// whole and with `--platform linux/amd64`: every referrer (the SBOM's signature too), or
/// the amd64 SBOM and its signature.
#[test]
fn a_registry_save_and_a_store_save_write_the_same_referrers() {
    let sc = Scenario::new().registry();
    let (s, arm64_sbom, sbom_signature) = signed_twice(sc.reg());
    let amd64_set = sorted(vec![s.sbom.clone(), sbom_signature.clone()]);
    let whole_set = sorted(vec![
        s.signature.clone(),
        s.cosign.1.clone(),
        arm64_sbom,
        s.sbom.clone(),
        sbom_signature,
    ]);
    let image = sc.reference("team/app:1.0.0");
    let dir = tempfile::tempdir().unwrap();
    sc.ok(&["pull", "--all-platforms", &image]);
    // The first whole save fetches them and the store keeps them.
    let fetched = save(sc.env(), dir.path(), "fetched.tar", &image, None);
    let cases = [(None, whole_set), (Some("linux/amd64"), amd64_set)];
    for (i, (platform, expected)) in cases.into_iter().enumerate() {
        let from_registry = if platform.is_none() {
            fetched.clone()
        } else {
            let fresh = TestEnv::new();
            ok(&fresh.run(&["pull", "--all-platforms", &image]));
            save(
                &fresh,
                dir.path(),
                &format!("registry-{i}.tar"),
                &image,
                platform,
            )
        };
        let mark = sc.reg().mark();
        let from_store = save(
            sc.env(),
            dir.path(),
            &format!("store-{i}.tar"),
            &image,
            platform,
        );
        assert!(
            sc.reg().requests_since(mark).is_empty(),
            "the store save asked the registry: {:?}",
            sc.reg().requests_since(mark)
        );
        assert_eq!(archive_referrers(&from_store), expected, "{platform:?}");
        assert_eq!(archive_referrers(&from_registry), expected, "{platform:?}");
    }
}

/// A chain of signatures four deep above the SBOM: a save from the registry follows three
/// levels (signature, countersignature, its signature) and says on stderr that it asked no
/// deeper; the fourth is not written.
#[test]
fn a_registry_save_follows_referrers_three_levels_deep() {
    let sc = Scenario::new().registry();
    let s = release(sc.reg(), "1.0.0");
    let mut chain = vec![s.sbom.clone()];
    for level in 1..=4 {
        let below = chain.last().unwrap().clone();
        let payload = format!("signature level {level}");
        chain.push(sign_referrer(
            sc.reg(),
            "team/app",
            &below,
            payload.as_bytes(),
        ));
    }
    let image = sc.reference("team/app:1.0.0");
    sc.ok(&["pull", "--all-platforms", &image]);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("app.tar");
    let out = sc.env().save_referrers(&archive, &image);
    let err = ok(&out);
    assert!(err.contains("more than 3 levels"), "{err}");
    let mut expected = vec![s.signature.clone(), s.cosign.1.clone()];
    expected.extend(chain[..4].iter().cloned());
    assert_eq!(archive_referrers(&archive), sorted(expected));
    assert!(!archive_referrers(&archive).contains(&chain[4]));
}
