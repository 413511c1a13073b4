//! imagectl to imagectl: shared layers written once, a save piped into a load, and
//! multi-platform images.

use super::*;

/// Images sharing a layer saved into one archive carry that layer once, in both formats;
/// the archive loads both images.
#[test]
fn shared_layers_are_written_once() {
    let reg = Registry::start();
    let v1 = app_image("1.0", MediaFormat::Oci);
    let v2 = app_image("2.0", MediaFormat::Oci);
    let base = &v1.layers[0];
    assert_eq!(base.digest, v2.layers[0].digest);
    let env = pulled(&reg, &[(&v1, "demo/app:1.0"), (&v2, "demo/app:2.0")]);
    let (r1, r2) = (reg.reference("demo/app:1.0"), reg.reference("demo/app:2.0"));
    let work = tempfile::tempdir().unwrap();

    for format in ["docker", "oci"] {
        let path = work.path().join(format!("{format}.tar"));
        let p = path.display().to_string();
        run_ok(&env, &["save", "--format", format, "-o", &p, &r1, &r2]);
        let entries = craft::list(&std::fs::read(&path).unwrap());
        let copies: Vec<&String> = entries
            .iter()
            .filter(|(_, kind, data)| {
                kind.is_file() && {
                    let d = fixtures::sha256_digest(data);
                    d == base.digest || d == base.diff_id
                }
            })
            .map(|(n, _, _)| n)
            .collect();
        assert_eq!(copies.len(), 1, "{format}: base layer entries {copies:?}");
        // Every entry name is unique, too.
        let mut names: Vec<&String> = entries.iter().map(|e| &e.0).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "{format}: duplicate entry names");
        if format == "docker" {
            let manifest = entries
                .iter()
                .find(|e| e.0 == "manifest.json")
                .expect("manifest.json");
            let m: serde_json::Value = serde_json::from_slice(&manifest.2).unwrap();
            assert_eq!(m.as_array().unwrap().len(), 2, "{m}");
            assert_eq!(m[0]["Layers"][0], m[1]["Layers"][0], "same layer path: {m}");
        }

        let fresh = TestEnv::new();
        let out = run_ok(&fresh, &["load", "-i", &p]);
        assert!(out.contains(&r1) && out.contains(&r2), "{format}: {out}");
        assert_eq!(id_of(&fresh, &r1), v1.config_digest);
        assert_eq!(id_of(&fresh, &r2), v2.config_digest);
        assert_fsck_clean(&fresh);
    }
}

/// `imagectl save A B | imagectl load` moves both images into another store through a pipe.
#[test]
fn save_pipe_load_into_another_store() {
    let reg = Registry::start();
    let v1 = app_image("1.0", MediaFormat::Oci);
    let v2 = app_image("2.0", MediaFormat::Docker);
    let src = pulled(&reg, &[(&v1, "demo/app:1.0"), (&v2, "demo/app:2.0")]);
    let (r1, r2) = (reg.reference("demo/app:1.0"), reg.reference("demo/app:2.0"));
    let dst = TestEnv::new();

    let mut save = std_imagectl(&src)
        .args(["save", &r1, &r2])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = save.stdout.take().unwrap();
    let load = std_imagectl(&dst)
        .args(["load"])
        .stdin(Stdio::from(pipe))
        .output()
        .unwrap();
    let mut save_err = String::new();
    save.stderr
        .take()
        .unwrap()
        .read_to_string(&mut save_err)
        .unwrap();
    let status = save.wait().unwrap();
    assert!(status.success(), "save: {save_err}");
    let out = ok(&load, "imagectl load (from a pipe)");
    assert!(
        out.contains(&format!("Loaded image: {r1}"))
            && out.contains(&format!("Loaded image: {r2}")),
        "{out}"
    );
    assert_eq!(id_of(&dst, &r1), v1.config_digest);
    assert_eq!(id_of(&dst, &r2), v2.config_digest);
    assert_fsck_clean(&dst);
}

/// A multi-platform image: `--format oci` saves the whole stored index (skopeo copies it back
/// with the same index digest), `--platform` picks one platform for either format, and a
/// platform the image lacks is one clear error.
#[test]
fn multi_platform_images() {
    let reg = Registry::start();
    let index = fixtures::multi_platform("multi", MediaFormat::Oci);
    fixtures::push_index_http(&reg, "demo/multi", "1.0", &index);
    let r = reg.reference("demo/multi:1.0");
    let src = TestEnv::new();
    run_ok(&src, &["pull", "-q", "--all-platforms", &r]);
    let dir = src.root.path();

    let whole = dir.join("whole.tar");
    run_ok(
        &src,
        &["save", "--format", "oci", "-o", whole.to_str().unwrap(), &r],
    );
    let out_layout = dir.join("copied");
    skopeo_ok(&[
        "copy",
        "--all",
        &format!("oci-archive:{}:{r}", whole.display()),
        &format!("oci:{}:x", out_layout.display()),
    ]);
    let raw = skopeo_ok(&[
        "inspect",
        "--raw",
        &format!("oci:{}:x", out_layout.display()),
    ]);
    assert_eq!(fixtures::sha256_digest(raw.as_bytes()), index.digest);
    let dst = TestEnv::new();
    run_ok(&dst, &["load", "-i", whole.to_str().unwrap()]);
    assert_eq!(
        crate::support::cli::store_index(&dst.store)["manifests"][0]["digest"],
        index.digest.as_str()
    );
    assert_fsck_clean(&dst);

    let arm = index.image("linux/arm64/v8");
    for format in ["docker", "oci"] {
        let file = dir.join(format!("arm-{format}.tar"));
        run_ok(
            &src,
            &[
                "save",
                "--format",
                format,
                "--platform",
                "linux/arm64/v8",
                "-o",
                file.to_str().unwrap(),
                &r,
            ],
        );
        let dst = TestEnv::new();
        run_ok(&dst, &["load", "-i", file.to_str().unwrap()]);
        assert_eq!(id_of(&dst, &r), arm.config_digest, "{format}");
    }

    let out = std_imagectl(&src)
        .args([
            "save",
            "--platform",
            "linux/s390x",
            "-o",
            dir.join("no.tar").to_str().unwrap(),
            &r,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("no linux/s390x platform") && err.contains("linux/arm64"),
        "{err}"
    );
    assert!(!dir.join("no.tar").exists());
}
