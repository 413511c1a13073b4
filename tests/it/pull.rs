//! `imagectl pull` against a real registry: what lands in the store, what crosses the wire.

use std::path::Path;

use crate::support::cli::{skopeo_inspect_store, skopeo_ok, store_refs};
use crate::support::fixtures::MediaFormat;
use crate::support::output::{stderr, stdout};
use crate::support::{Scenario, StoreProbe, TestEnv};

/// Runs `imagectl fsck` and asserts the store is sound.
pub fn assert_fsck_clean(env: &TestEnv) {
    let out = env.imagectl().arg("fsck").output().unwrap();
    assert!(
        out.status.success(),
        "fsck failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("no problems"), "{}", stdout(&out));
}

/// OCI and Docker schema2 images pulled into the store are readable by skopeo and umoci
/// with the digests the registry serves, under their full normalized names.
#[test]
fn pulled_images_are_readable_by_skopeo_and_umoci() {
    let sc = Scenario::new().registry().app().pushed(
        "app-v2",
        "demo/app:2.0-docker",
        MediaFormat::Docker,
        false,
    );
    let (reg, fx, env) = (sc.reg(), sc.fx(), sc.env());
    let (oci, docker) = (sc.digest("demo/app:1.0"), sc.digest("demo/app:2.0-docker"));

    let r1 = reg.reference("demo/app:1.0");
    let r2 = reg.reference("demo/app:2.0-docker");
    let out = env.run(&["pull", &r1, &r2]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("{r1}: Downloaded newer image")),
        "{}",
        stdout(&out)
    );

    let mut refs = store_refs(&env.store);
    refs.sort();
    assert_eq!(refs, vec![r1.clone(), r2.clone()]);

    let v = skopeo_inspect_store(&env.store, &r1);
    assert_eq!(v["Digest"], oci.as_str());
    assert_eq!(v["Layers"], serde_json::json!(fx.app_v1.layer_digests()));
    // The Docker image is stored as its OCI equivalent (skopeo's layout reader skips
    // Docker media types): same config and layers, and RepoDigests still names what the
    // registry served.
    let v = skopeo_inspect_store(&env.store, &r2);
    assert_ne!(v["Digest"], docker.as_str());
    assert_eq!(v["Layers"], serde_json::json!(fx.app_v2.layer_digests()));
    let out = env.run(&["inspect", "-f", "{{.Id}} {{json .RepoDigests}}", &r2]);
    assert_eq!(
        stdout(&out).trim(),
        format!(
            "{} [\"{}@{docker}\"]",
            fx.app_v2.config_digest,
            reg.reference("demo/app")
        )
    );

    // skopeo copies an image out of the store (reading every blob).
    let dir = tempfile::tempdir().unwrap();
    skopeo_ok(&[
        "copy",
        "--quiet",
        &format!("oci:{}:{r1}", env.store.display()),
        &format!("dir:{}", dir.path().join("out").display()),
    ]);
    assert!(dir.path().join("out/manifest.json").exists());

    // umoci lists the same names.
    let ls = crate::support::tools::tool("umoci")
        .args(["ls", "--layout"])
        .arg(&env.store)
        .output()
        .unwrap();
    assert!(ls.status.success(), "{}", stderr(&ls));
    let listed = stdout(&ls);
    assert!(listed.contains(&r1) && listed.contains(&r2), "{listed}");
    assert_fsck_clean(env);
}

/// A second pull of the same images downloads no blob and GETs no manifest: one HEAD per
/// tag; the -v summary says so too.
#[test]
fn second_pull_transfers_no_blob() {
    let sc = Scenario::new().registry().app().pushed(
        "app-v2",
        "demo/app:2.0",
        MediaFormat::Docker,
        false,
    );
    let (reg, env) = (sc.reg(), sc.env());
    let refs = [reg.reference("demo/app:1.0"), reg.reference("demo/app:2.0")];

    env.imagectl().arg("pull").args(&refs).assert().success();
    let before = std::fs::read(env.store.join("index.json")).unwrap();
    let mark = reg.mark();
    let out = env
        .imagectl()
        .args(["pull", "-v"])
        .args(&refs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(reg.count_since(mark, "GET", "/blobs/"), 0);
    assert_eq!(reg.count_since(mark, "GET", "/manifests/"), 0);
    assert_eq!(reg.count_since(mark, "HEAD", "/manifests/"), 2);
    assert!(
        stderr(&out).contains("0 blobs downloaded"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("Image is up to date"),
        "{}",
        stdout(&out)
    );
    // Nothing was written either.
    assert_eq!(std::fs::read(env.store.join("index.json")).unwrap(), before);
}

/// Two images sharing a base layer, pulled in one command, fetch that layer once; pulling a
/// third image later reuses it from the store.
#[test]
fn shared_layers_are_downloaded_once() {
    let sc = Scenario::new()
        .registry()
        .app()
        .oci("app-v2", "demo/other:2.0")
        .oci("app-v2", "demo/third:2.0");
    let (reg, fx, env) = (sc.reg(), sc.fx(), sc.env());
    let base = &fx.app_v1.layers[0].digest;
    assert_eq!(base, &fx.app_v2.layers[0].digest);

    let mark = reg.mark();
    env.imagectl()
        .args([
            "pull",
            "-q",
            &reg.reference("demo/app:1.0"),
            &reg.reference("demo/other:2.0"),
        ])
        .assert()
        .success();
    assert_eq!(reg.count_since(mark, "GET", base), 1);

    let mark = reg.mark();
    env.imagectl()
        .args(["pull", "-q", &reg.reference("demo/third:2.0")])
        .assert()
        .success();
    assert_eq!(
        reg.count_since(mark, "GET", "/blobs/"),
        0,
        "all blobs were already in the store"
    );
    assert_fsck_clean(env);
}

/// From a multi-platform index (OCI index and Docker manifest list) pull takes the asked
/// platform's image; --all-platforms keeps the index and every platform.
#[test]
fn multi_platform_selection() {
    let sc = Scenario::new()
        .registry()
        .pushed("multi", "demo/multi:oci", MediaFormat::Oci, true)
        .pushed("multi", "demo/multi:docker", MediaFormat::Docker, true);
    let (reg, fx) = (sc.reg(), sc.fx());
    let arm = fx.multi.image("linux/arm64/v8").clone();
    let amd = fx.multi.image("linux/amd64").clone();

    for tag in ["oci", "docker"] {
        let env = TestEnv::new();
        let r = reg.reference(&format!("demo/multi:{tag}"));
        let served_index = reg.manifest_digest("demo/multi", tag).unwrap();

        let out = env.run(&["pull", "--platform", "linux/arm64", &r]);
        assert!(out.status.success(), "{}", stderr(&out));
        let id = env.run(&[
            "inspect",
            "-f",
            "{{.Id}} {{.Architecture}} {{index .RepoDigests 0}}",
            &r,
        ]);
        let line = stdout(&id);
        assert!(
            line.starts_with(&format!("{} arm64 ", arm.config_digest)),
            "{tag}: {line}"
        );
        // RepoDigests name what the tag resolved to: the index.
        assert!(line.trim_end().ends_with(&served_index), "{tag}: {line}");
        assert!(
            !StoreProbe::new(&env.store).has_blob(&amd.config_digest),
            "the amd64 image was not fetched"
        );

        // The host default is linux/amd64 on these machines.
        env.imagectl()
            .args(["pull", "-q", "--platform", "linux/amd64", &r])
            .assert()
            .success();
        let line = stdout(&env.run(&["inspect", "-f", "{{.Architecture}}", &r]));
        assert_eq!(line.trim(), "amd64", "{tag}");

        let all = TestEnv::new();
        all.imagectl()
            .args(["pull", "-q", "--all-platforms", &r])
            .assert()
            .success();
        let index = all.store_index();
        let stored = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        if tag == "oci" {
            assert_eq!(stored, served_index, "an OCI index is stored byte for byte");
        } else {
            assert_eq!(
                index["manifests"][0]["mediaType"], "application/vnd.oci.image.index.v1+json",
                "a Docker manifest list is stored as an OCI index"
            );
        }
        let digests = stdout(&all.run(&["inspect", "-f", "{{json .RepoDigests}}", &r]));
        assert!(digests.contains(&served_index), "{tag}: {digests}");
        // skopeo reads the stored index and both platform images.
        for arch in ["amd64", "arm64"] {
            let out = crate::support::cli::skopeo()
                .args(["--override-arch", arch, "inspect"])
                .arg(format!("oci:{}:{r}", all.store.display()))
                .output()
                .unwrap();
            assert!(out.status.success(), "{tag} {arch}: {}", stderr(&out));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["Architecture"], arch, "{tag}");
        }
        for img in [&arm, &amd] {
            assert!(
                StoreProbe::new(&all.store).has_blob(&img.config_digest),
                "{tag}: {}",
                img.config_digest
            );
        }
        assert_fsck_clean(&all);
    }
}

/// A platform the index lacks is refused with the platforms it has, and nothing is stored.
#[test]
fn missing_platform_is_a_clear_error() {
    let sc = Scenario::new()
        .registry()
        .pushed("multi", "demo/multi:1", MediaFormat::Oci, true);
    let (reg, env) = (sc.reg(), sc.env());
    let out = env.run(&[
        "pull",
        "--platform",
        "linux/s390x",
        &reg.reference("demo/multi:1"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no image for platform linux/s390x"), "{err}");
    assert!(
        err.contains("linux/amd64") && err.contains("linux/arm64"),
        "{err}"
    );
    assert!(store_refs_or_empty(&env.store).is_empty());
}

fn store_refs_or_empty(store: &Path) -> Vec<String> {
    if store.join("index.json").exists() {
        store_refs(store)
    } else {
        Vec::new()
    }
}

/// Pull by digest stores `repo@digest`, costs nothing the second time, and `name:tag@digest`
/// is stored under the tag.
#[test]
fn pull_by_digest() {
    let sc = Scenario::new().registry().app();
    let (reg, env) = (sc.reg(), sc.env());
    let digest = sc.digest("demo/app:1.0");
    let by_digest = format!("{}@{digest}", reg.reference("demo/app"));
    env.imagectl()
        .args(["pull", "-q", &by_digest])
        .assert()
        .success();
    assert_eq!(store_refs(&env.store), vec![by_digest.clone()]);
    let mark = reg.mark();
    env.imagectl()
        .args(["pull", "-q", &by_digest])
        .assert()
        .success();
    assert!(
        reg.requests_since(mark).is_empty(),
        "a stored pinned digest costs no request"
    );

    let pinned_tag = format!("{}@{digest}", reg.reference("demo/app:pinned"));
    env.imagectl()
        .args(["pull", "-q", &pinned_tag])
        .assert()
        .success();
    let refs = store_refs(&env.store);
    assert!(refs.contains(&reg.reference("demo/app:pinned")), "{refs:?}");

    let table = stdout(&env.run(&["images", "--digests"]));
    assert!(table.contains(&digest), "{table}");
}

/// A tag that moved upstream is pulled again; the old image stays as a dangling image
/// until prune removes it together with the blobs only it used.
#[test]
fn moved_tag_leaves_dangling_image_until_prune() {
    let sc = Scenario::new().registry().oci("app-v1", "demo/app:latest");
    let (reg, fx, env) = (sc.reg(), sc.fx(), sc.env());
    let r = reg.reference("demo/app:latest");
    env.imagectl().args(["pull", "-q", &r]).assert().success();
    fx.push(reg, "app-v2", "demo/app:latest", MediaFormat::Oci, false);
    let out = env.run(&["pull", &r]);
    assert!(
        stdout(&out).contains("Downloaded newer image"),
        "{}",
        stdout(&out)
    );

    let dangling = stdout(&env.run(&["images", "-q", "--filter", "dangling=true"]));
    assert_eq!(dangling.trim(), &fx.app_v1.config_digest[7..19]);
    let named = stdout(&env.run(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
        "--filter",
        "dangling=false",
    ]));
    assert_eq!(
        named.trim(),
        format!("{} {}", r, &fx.app_v2.config_digest[7..19])
    );

    let out = env.run(&["prune", "-f"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("deleted: {}", fx.app_v1.config_digest)),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("Total reclaimed space:"),
        "{}",
        stdout(&out)
    );
    assert!(
        !StoreProbe::new(&env.store).has_blob(&fx.app_v1.layers[1].digest),
        "v1's own layer went"
    );
    assert!(
        StoreProbe::new(&env.store).has_blob(&fx.app_v1.layers[0].digest),
        "the shared base layer stays"
    );
    assert!(!StoreProbe::new(&env.store).has_blob(&fx.app_v1.manifest_digest));
    assert_fsck_clean(env);
}
