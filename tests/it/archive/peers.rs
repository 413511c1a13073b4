//! OCI archives with skopeo, and both formats with podman, in both directions.

use super::*;

/// OCI archives round-trip with skopeo: imagectl's `--format oci` is read by
/// `skopeo copy oci-archive:`, and an OCI archive skopeo writes loads in imagectl with the
/// same config (ID) and layers.
#[test]
fn oci_archives_round_trip_with_skopeo() {
    let reg = Registry::start();
    let image = app_image("3.0", MediaFormat::Oci);
    let env = pulled(&reg, &[(&image, "demo/oci:3.0")]);
    let name = reg.reference("demo/oci:3.0");
    let work = tempfile::tempdir().unwrap();

    let archive = work.path().join("oci.tar");
    run_ok(
        &env,
        &[
            "save",
            "--format",
            "oci",
            "-o",
            &archive.display().to_string(),
            &name,
        ],
    );
    let names: Vec<String> = craft::list(&std::fs::read(&archive).unwrap())
        .into_iter()
        .map(|(n, _, _)| n)
        .collect();
    assert!(
        names.iter().any(|n| n == "oci-layout") && names.iter().any(|n| n == "index.json"),
        "an OCI layout: {names:?}"
    );

    // skopeo reads it (one image: no reference needed) and sees the same config and layers.
    let dir = work.path().join("dir");
    skopeo_ok(&[
        "copy",
        "--quiet",
        &format!("oci-archive:{}", archive.display()),
        &format!("dir:{}", dir.display()),
    ]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["config"]["digest"], image.config_digest.as_str());
    let layers: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(layers, image.layer_digests());

    // Back: skopeo writes an OCI archive, imagectl loads it into a fresh store.
    let back = work.path().join("back.tar");
    skopeo_ok(&[
        "copy",
        "--quiet",
        &format!("dir:{}", dir.display()),
        &format!("oci-archive:{}:demo/back:1.0", back.display()),
    ]);
    let env2 = TestEnv::new();
    let out = run_ok(&env2, &["load", "-i", &back.display().to_string()]);
    assert!(out.contains("Loaded image: demo/back:1.0"), "{out}");
    assert_eq!(id_of(&env2, "demo/back:1.0"), image.config_digest);
    assert_fsck_clean(&env2);

    // And imagectl's own OCI archive loads in imagectl under the saved name.
    let env3 = TestEnv::new();
    let out = run_ok(&env3, &["load", "-i", &archive.display().to_string()]);
    assert!(out.contains("Loaded image: "), "{out}");
    assert_eq!(id_of(&env3, &name), image.config_digest);
    assert_fsck_clean(&env3);
}

/// podman (its own vfs storage in a temp dir, no daemon) loads imagectl's docker-archive and
/// OCI archives with the same image ID, and imagectl loads what `podman save` writes.
#[test]
fn podman_loads_imagectl_archives_and_back() {
    let reg = Registry::start();
    let v1 = app_image("1.0", MediaFormat::Oci);
    let v2 = app_image("2.0", MediaFormat::Docker);
    let src = pulled(&reg, &[(&v1, "demo/app:1.0"), (&v2, "demo/app:2.0")]);
    let (r1, r2) = (reg.reference("demo/app:1.0"), reg.reference("demo/app:2.0"));
    let dir = src.root.path();
    let podman = |root: &str, args: &[&str]| crate::support::tools::podman(&dir.join(root), args);
    let docker_tar = dir.join("both.tar");
    let oci_tar = dir.join("v1-oci.tar");
    run_ok(
        &src,
        &["save", "-o", docker_tar.to_str().unwrap(), &r1, &r2],
    );
    run_ok(
        &src,
        &[
            "save",
            "--format",
            "oci",
            "-o",
            oci_tar.to_str().unwrap(),
            &r1,
        ],
    );

    let out = podman("a", &["load", "-i", docker_tar.to_str().unwrap()]);
    assert!(out.contains(&r1) && out.contains(&r2), "{out}");
    for (r, image) in [(&r1, &v1), (&r2, &v2)] {
        let id = podman("a", &["image", "inspect", "--format", "{{.ID}}", r]);
        assert_eq!(
            format!("sha256:{}", id.trim()),
            image.config_digest,
            "podman's ID of {r}"
        );
    }
    let out = podman("b", &["load", "-i", oci_tar.to_str().unwrap()]);
    assert!(out.contains(&r1), "{out}");
    let id = podman("b", &["image", "inspect", "--format", "{{.ID}}", &r1]);
    assert_eq!(format!("sha256:{}", id.trim()), v1.config_digest);

    let back = dir.join("from-podman.tar");
    podman("a", &["save", "-o", back.to_str().unwrap(), &r2]);
    let dst = TestEnv::new();
    let out = run_ok(&dst, &["load", "-i", back.to_str().unwrap()]);
    assert!(out.contains(&format!("Loaded image: {r2}")), "{out}");
    assert_eq!(id_of(&dst, &r2), v2.config_digest);
    assert_fsck_clean(&dst);
}
