//! `imagectl save` and `imagectl load` against real peers: archives written by `docker save`
//! and skopeo load in imagectl with the same image IDs and names, and imagectl's archives load
//! in `docker load` and skopeo. Hostile archives are in `archive/hostile.rs`.

mod craft;
mod hostile;
mod save;

use std::io::Read as _;
use std::path::Path;
use std::process::{Command as StdCommand, Output, Stdio};

use crate::support::cli::{imagectl_bin, skopeo_ok};
use crate::support::docker::{Dockerd, runnable_image};
use crate::support::fixtures::{
    self, FixtureImage, ImageBuilder, Layer, MediaFormat, OciLayout, app_image,
};
use crate::support::{Registry, TestEnv};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts success; returns stdout.
fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs `imagectl ARGS` on `env`'s store; asserts success and returns stdout.
fn run_ok(env: &TestEnv, args: &[&str]) -> String {
    ok(
        &env.imagectl().args(args).output().unwrap(),
        &format!("imagectl {args:?}"),
    )
}

/// `imagectl inspect -f {{.Id}} IMAGE`.
fn id_of(env: &TestEnv, image: &str) -> String {
    run_ok(env, &["inspect", "-f", "{{.Id}}", image])
        .trim()
        .to_string()
}

/// `imagectl inspect -f '{{json .RepoTags}}' IMAGE`, sorted.
fn repo_tags_of(env: &TestEnv, image: &str) -> Vec<String> {
    let v: Vec<String> = serde_json::from_str(&run_ok(
        env,
        &["inspect", "-f", "{{json .RepoTags}}", image],
    ))
    .unwrap();
    sorted(v)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// `imagectl --store STORE` as a std command (for pipes), with `env`'s `HOME` and the
/// variables the shared helpers scrub removed.
fn std_imagectl(env: &TestEnv) -> StdCommand {
    let mut cmd = StdCommand::new(imagectl_bin());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("IMAGECTL_")
            || k.starts_with("DOCKER_")
            || k.starts_with("XDG_")
            || k.to_ascii_lowercase().ends_with("_proxy")
        {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd.env("HOME", &env.home)
        .env("NO_COLOR", "1")
        .arg("--store")
        .arg(&env.store);
    cmd
}

/// A store that pulled each `(image, "repo:tag")` from `reg` (pushed byte for byte first).
fn pulled(reg: &Registry, images: &[(&FixtureImage, &str)]) -> TestEnv {
    let env = TestEnv::new();
    for (image, repo_tag) in images {
        let (repo, tag) = repo_tag.rsplit_once(':').unwrap();
        fixtures::push_image_http(reg, repo, tag, image);
        run_ok(&env, &["pull", "-q", &reg.reference(repo_tag)]);
    }
    env
}

/// Loads `archive` (a docker-archive) into `dockerd` after writing it from an OCI layout
/// with skopeo: `skopeo copy oci:LAYOUT:REF docker-archive:FILE:NAME`.
fn docker_load_via_skopeo(d: &Dockerd, image: &FixtureImage, name: &str, dir: &Path) {
    let layout = dir.join("layout");
    OciLayout::create(&layout).add_image(image, "img");
    let file = dir.join(format!("{}.tar", name.replace(['/', ':'], "_")));
    skopeo_ok(&[
        "copy",
        "--quiet",
        &format!("oci:{}:img", layout.display()),
        &format!("docker-archive:{}:{name}", file.display()),
    ]);
    let out = d.load(&file);
    assert!(out.contains(&format!("Loaded image: {name}")), "{out}");
}

/// Runs `imagectl fsck` and asserts a sound store.
fn assert_fsck_clean(env: &TestEnv) {
    let out = run_ok(env, &["fsck"]);
    assert!(out.contains("no problems"), "{out}");
}

/// An archive `docker save` wrote (images that came in by `docker load` and by `docker pull`
/// from a registry, sharing a layer) loads in imagectl with docker's image IDs, tags and
/// layers.
#[test]
fn docker_save_loads_with_the_same_ids_and_tags() {
    let reg = Registry::start();
    let d = Dockerd::builder().insecure_registry(&reg.host()).start();
    let work = tempfile::tempdir().unwrap();

    let v1 = app_image("1.0", MediaFormat::Oci);
    docker_load_via_skopeo(&d, &v1, "demo/app:1.0", work.path());
    d.docker_ok(&["tag", "demo/app:1.0", "demo/app:stable"]);
    let v2 = app_image("2.0", MediaFormat::Docker);
    fixtures::push_image_http(&reg, "demo/pulled", "2.0", &v2);
    let pulled_ref = reg.reference("demo/pulled:2.0");
    d.docker_ok(&["pull", "-q", &pulled_ref]);

    let archive = work.path().join("docker-save.tar");
    d.save(&archive, &["demo/app:1.0", "demo/app:stable", &pulled_ref]);

    let env = TestEnv::new();
    let out = run_ok(&env, &["load", "-i", &archive.display().to_string()]);
    for name in ["demo/app:1.0", "demo/app:stable", pulled_ref.as_str()] {
        assert!(
            out.contains(&format!("Loaded image: {name}")),
            "names {name}: {out}"
        );
        assert_eq!(id_of(&env, name), d.image_id(name), "{name}");
        let docker_tags: Vec<String> =
            serde_json::from_value(d.inspect(name)["RepoTags"].clone()).unwrap();
        assert_eq!(repo_tags_of(&env, name), sorted(docker_tags), "{name}");
        let layers = run_ok(&env, &["inspect", "-f", "{{json .RootFS.Layers}}", name]);
        let docker_layers = &d.inspect(name)["RootFS"]["Layers"];
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&layers).unwrap(),
            *docker_layers,
            "{name}"
        );
    }
    assert_eq!(id_of(&env, "demo/app:1.0"), v1.config_digest);
    assert_eq!(id_of(&env, &pulled_ref), v2.config_digest);
    assert_fsck_clean(&env);

    // Loading the same archive again adds nothing: same blobs, same names on the same
    // manifests (only imagectl's own time annotations may move).
    let entries = |env: &TestEnv| {
        let mut v: Vec<(String, String)> = env.store_index()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let name = m["annotations"][fixtures::REF_NAME].as_str().unwrap_or("");
                (name.to_string(), m["digest"].as_str().unwrap().to_string())
            })
            .collect();
        v.sort();
        v
    };
    let blobs = |env: &TestEnv| crate::errors::fingerprint(&env.store.join("blobs"));
    let (names_before, blobs_before) = (entries(&env), blobs(&env));
    let out = run_ok(&env, &["load", "-q", "-i", &archive.display().to_string()]);
    assert!(!out.contains("error"), "{out}");
    assert_eq!(entries(&env), names_before);
    assert_eq!(blobs(&env), blobs_before);
}

/// A layer that is the top layer of one image and a lower layer of another gets two legacy
/// layer IDs in `docker save` (20.10), which writes it once and a relative symlink to it for
/// the other ID: imagectl loads such an archive (a link that stays inside the archive and
/// points at a layer it holds is docker's format, not an attack).
#[test]
fn docker_save_with_a_layer_symlink_loads() {
    let d = Dockerd::start();
    let work = tempfile::tempdir().unwrap();
    let early = ImageBuilder::new().layer(fixtures::base_layer()).build();
    let late = ImageBuilder::new()
        .layer(fixtures::base_layer())
        .layer(Layer::from_files(&[("late/marker", "late\n")]))
        .build();
    assert_eq!(early.layers[0].diff_id, late.layers[0].diff_id);
    docker_load_via_skopeo(&d, &early, "demo/early:1", work.path());
    docker_load_via_skopeo(&d, &late, "demo/late:1", work.path());
    let archive = work.path().join("linked.tar");
    d.save(&archive, &["demo/early:1", "demo/late:1"]);
    let entries = craft::list(&std::fs::read(&archive).unwrap());
    let links: Vec<&String> = entries
        .iter()
        .filter(|e| e.1 == tar::EntryType::Symlink)
        .map(|e| &e.0)
        .collect();
    assert_eq!(links.len(), 1, "docker wrote one layer symlink: {links:?}");

    let env = TestEnv::new();
    let out = run_ok(&env, &["load", "-i", &archive.display().to_string()]);
    assert!(out.contains("Loaded image: demo/early:1"), "{out}");
    assert!(out.contains("Loaded image: demo/late:1"), "{out}");
    assert_eq!(id_of(&env, "demo/early:1"), d.image_id("demo/early:1"));
    assert_eq!(id_of(&env, "demo/late:1"), d.image_id("demo/late:1"));
    assert_fsck_clean(&env);
}

/// A docker-archive skopeo writes (`<diff-id>.tar` layers, `<id>/layer.tar -> ../<diff-id>.tar`
/// symlinks for legacy readers) loads in imagectl with the same ID.
#[test]
fn skopeo_docker_archive_loads() {
    let work = tempfile::tempdir().unwrap();
    let image = app_image("5.0", MediaFormat::Oci);
    let layout = work.path().join("layout");
    OciLayout::create(&layout).add_image(&image, "img");
    let file = work.path().join("skopeo.tar");
    skopeo_ok(&[
        "copy",
        "--quiet",
        &format!("oci:{}:img", layout.display()),
        &format!("docker-archive:{}:demo/skopeo:5.0", file.display()),
    ]);
    let env = TestEnv::new();
    let out = run_ok(&env, &["load", "-i", &file.display().to_string()]);
    assert!(out.contains("Loaded image: demo/skopeo:5.0"), "{out}");
    assert_eq!(id_of(&env, "demo/skopeo:5.0"), image.config_digest);
    assert_fsck_clean(&env);
}

/// An archive imagectl saved loads in `docker load` with the same image ID under the same
/// name, and the image runs; an image saved by ID loads as `Loaded image ID:`.
#[test]
fn imagectl_save_loads_in_docker_and_runs() {
    let reg = Registry::start();
    let image = runnable_image("saved by imagectl");
    let env = pulled(&reg, &[(&image, "demo/run:1")]);
    let name = reg.reference("demo/run:1");
    let id = id_of(&env, &name);
    assert_eq!(id, image.config_digest);

    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("run.tar");
    let out = env
        .imagectl()
        .args(["save", "-o", &archive.display().to_string(), &name])
        .output()
        .unwrap();
    ok(&out, "imagectl save");
    assert!(out.stdout.is_empty(), "nothing on stdout with -o");

    let d = Dockerd::start();
    let loaded = d.load(&archive);
    assert!(
        loaded.contains(&format!("Loaded image: {name}")),
        "{loaded}"
    );
    assert_eq!(d.image_id(&name), id);
    let docker_layers = d.inspect(&name)["RootFS"]["Layers"].clone();
    assert_eq!(docker_layers, serde_json::json!(image.diff_ids()));

    // The image runs: docker unpacked every layer imagectl wrote.
    let out = d.docker_out(&["run", "--rm", "--network", "none", &name, "true"]);
    ok(&out, "docker run IMAGE true");
    let out = d.docker_out(&[
        "run",
        "--rm",
        "--network",
        "none",
        &name,
        "sh",
        "-c",
        "cat /etc/note",
    ]);
    assert_eq!(ok(&out, "docker run cat").trim(), "saved by imagectl");

    // By ID: no name in the archive, docker says which ID it loaded.
    let by_id = work.path().join("by-id.tar");
    run_ok(
        &env,
        &["save", "-o", &by_id.display().to_string(), &id[7..19]],
    );
    let d2 = Dockerd::start();
    let loaded = d2.load(&by_id);
    assert!(
        loaded.contains(&format!("Loaded image ID: {id}")),
        "{loaded}"
    );
    // And imagectl reads it back the same way.
    let env2 = TestEnv::new();
    let out = run_ok(&env2, &["load", "-i", &by_id.display().to_string()]);
    assert!(out.contains(&format!("Loaded image ID: {id}")), "{out}");
    assert_eq!(id_of(&env2, &id), id);
}

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
    let podman = |root: &str, args: &[&str]| {
        let out = crate::support::tools::tool("podman")
            .arg("--root")
            .arg(dir.join(root).join("root"))
            .arg("--runroot")
            .arg(dir.join(root).join("run"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ])
            .args(args)
            .env("HOME", dir)
            .output()
            .unwrap();
        ok(&out, &format!("podman {}", args.join(" ")))
    };
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
