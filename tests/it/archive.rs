//! `imagectl save` and `imagectl load` against real peers: archives written by `docker save`
//! and skopeo load in imagectl with the same image IDs and names, and imagectl's archives load
//! in `docker load` and skopeo. Hostile archives are in `archive/hostile.rs`.

mod craft;
mod hostile;

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

/// gzip and zstd archives, chosen by `--compress` or by the `.tar.gz`/`.tar.zst` extension,
/// carry the right magic number and load back (docker reads the gzip one as well).
#[test]
fn compressed_archives() {
    let reg = Registry::start();
    let image = app_image("4.0", MediaFormat::Oci);
    let env = pulled(&reg, &[(&image, "demo/z:4.0")]);
    let name = reg.reference("demo/z:4.0");
    let work = tempfile::tempdir().unwrap();
    let gzip_magic: &[u8] = &[0x1f, 0x8b];
    let zstd_magic: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
    let xz_magic: &[u8] = b"\xfd7zXZ\0";
    let bzip2_magic: &[u8] = b"BZh";

    let cases: Vec<(&str, Vec<&str>, &[u8])> = vec![
        ("flag.tar", vec!["--compress", "gzip"], gzip_magic),
        ("flag-z.tar", vec!["--compress", "zstd"], zstd_magic),
        ("ext.tar.gz", vec![], gzip_magic),
        ("ext.tar.zst", vec![], zstd_magic),
        ("oci.tar.zst", vec!["--format", "oci"], zstd_magic),
        (
            "oci-gz.tar",
            vec!["--format", "oci", "--compress", "gzip"],
            gzip_magic,
        ),
        ("plain.tar.gz", vec!["--compress", "none"], b"" as &[u8]),
        ("ext.tar.xz", vec![], xz_magic),
        ("flag-bz.tar", vec!["--compress", "bzip2"], bzip2_magic),
    ];
    for (file, flags, magic) in cases {
        let path = work.path().join(file);
        let mut args = vec!["save"];
        args.extend(flags.iter().copied());
        let p = path.display().to_string();
        args.extend(["-o", &p, &name]);
        run_ok(&env, &args);
        let bytes = std::fs::read(&path).unwrap();
        if magic.is_empty() {
            assert!(
                !bytes.starts_with(gzip_magic) && !bytes.starts_with(zstd_magic),
                "{file}: --compress none wins over the extension"
            );
        } else {
            assert!(bytes.starts_with(magic), "{file}: {:02x?}", &bytes[..8]);
        }
        // A plain tar inside.
        let names: Vec<String> = craft::list(&bytes).into_iter().map(|e| e.0).collect();
        assert!(!names.is_empty(), "{file}");

        let fresh = TestEnv::new();
        let out = run_ok(&fresh, &["load", "-i", &p]);
        assert!(
            out.contains(&format!("Loaded image: {name}")),
            "{file}: {out}"
        );
        assert_eq!(id_of(&fresh, &name), image.config_digest, "{file}");
        // Through stdin as well: compression is detected from the bytes.
        let fresh = TestEnv::new();
        let out = fresh
            .imagectl()
            .arg("load")
            .write_stdin(bytes)
            .output()
            .unwrap();
        ok(&out, &format!("imagectl load < {file}"));
        assert_eq!(
            id_of(&fresh, &name),
            image.config_digest,
            "{file} via stdin"
        );
    }

    // Archives compressed by the xz and bzip2 tools themselves load too.
    let plain = std::fs::read(work.path().join("plain.tar.gz")).unwrap();
    for (tool, file) in [("xz", "tool.tar.xz"), ("bzip2", "tool.tar.bz2")] {
        let path = work.path().join(file);
        std::fs::write(&path, craft::through(tool, &["-c"], &plain)).unwrap();
        let fresh = TestEnv::new();
        run_ok(&fresh, &["load", "-i", &path.display().to_string()]);
        assert_eq!(id_of(&fresh, &name), image.config_digest, "{file}");
    }

    let d = Dockerd::start();
    let loaded = d.load(&work.path().join("ext.tar.gz"));
    assert!(
        loaded.contains(&format!("Loaded image: {name}")),
        "{loaded}"
    );
    assert_eq!(d.image_id(&name), image.config_digest);
}

/// Compressing an archive of incompressible layers (random data, like already-compressed
/// files) costs at most 1% in size, as `gzip -1` and zstd do.
#[test]
fn compression_does_not_inflate_incompressible_layers() {
    let reg = Registry::start();
    let image = ImageBuilder::new()
        .layer(Layer::random("data/random.bin", 4 << 20, 11))
        .build();
    let env = pulled(&reg, &[(&image, "demo/random:1")]);
    let name = reg.reference("demo/random:1");
    let work = tempfile::tempdir().unwrap();
    let size = |file: &str| {
        let p = work.path().join(file);
        run_ok(&env, &["save", "-o", &p.display().to_string(), &name]);
        std::fs::metadata(&p).unwrap().len()
    };
    let plain = size("plain.tar");
    for file in ["gz.tar.gz", "zst.tar.zst"] {
        let compressed = size(file);
        assert!(
            compressed * 100 <= plain * 101,
            "{file}: {compressed} bytes for a {plain}-byte tar (+{:.1}%)",
            (compressed as f64 / plain as f64 - 1.0) * 100.0
        );
    }
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

/// `save` to a terminal is refused (no tar bytes on a tty); `save` of an unknown image
/// writes nothing: no `-o` file is left and nothing reaches stdout.
#[test]
fn save_refuses_a_terminal_and_unknown_images() {
    let reg = Registry::start();
    let image = app_image("1.0", MediaFormat::Oci);
    let env = pulled(&reg, &[(&image, "demo/app:1.0")]);
    let name = reg.reference("demo/app:1.0");

    // script(1) gives the command a pseudo-terminal as stdin, stdout and stderr.
    let cmdline = format!(
        "{} --store {} save {}",
        imagectl_bin().display(),
        env.store.display(),
        name
    );
    let out = crate::support::tools::tool("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .env("HOME", &env.home)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux)");
    let tty = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{tty}");
    assert_eq!(
        tty.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{tty}"
    );
    assert!(
        tty.to_lowercase().contains("terminal") && tty.contains("-o"),
        "says why and what to do: {tty}"
    );
    assert!(!tty.contains("manifest.json") && tty.len() < 2000, "{tty}");

    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("out.tar");
    for args in [
        vec!["save", "-o", file.to_str().unwrap(), "nope:1"],
        vec!["save", "-o", file.to_str().unwrap(), &name, "nope:1"],
    ] {
        let out = env.imagectl().args(&args).output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("no such image") && err.contains("nope:1"),
            "{err}"
        );
        assert!(!file.exists(), "{args:?}: no archive left behind");
        assert_eq!(
            std::fs::read_dir(work.path()).unwrap().count(),
            0,
            "no temp file left"
        );
    }
    let out = env.imagectl().args(["save", "nope:1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing on stdout");
}

/// `save -o` takes gzip layers' sizes from their trailers (no counting pass). A multi-member
/// gzip layer's trailer states only its last member's size: the write pass notices, the
/// file is written again with counted sizes, and the archive loads with the right ID.
#[test]
fn a_wrong_gzip_trailer_falls_back_to_counted_sizes() {
    let plain = Layer::random("data.bin", 300_000, 7);
    let tar = {
        let mut d = flate2::read::GzDecoder::new(&plain.blob[..]);
        let mut t = Vec::new();
        d.read_to_end(&mut t).unwrap();
        t
    };
    let member = |part: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, part).unwrap();
        gz.finish().unwrap()
    };
    let mut blob = member(&tar[..100_000]);
    blob.extend(member(&tar[100_000..]));
    let multi = Layer {
        digest: fixtures::sha256_digest(&blob),
        size: blob.len() as u64,
        blob,
        ..plain
    };
    let image = ImageBuilder::new()
        .layer(fixtures::base_layer())
        .layer(multi)
        .build();
    let reg = Registry::start();
    let src = pulled(&reg, &[(&image, "demo/multi:1")]);
    let r = reg.reference("demo/multi:1");
    let file = src.root.path().join("multi.tar");

    let out = std_imagectl(&src)
        .args(["-v", "save", "-o", file.to_str().unwrap(), &r])
        .output()
        .unwrap();
    ok(&out, "imagectl save -o");
    let log = text(&out.stderr);
    assert!(log.contains("gzip trailer size was wrong"), "{log}");
    let dst = TestEnv::new();
    run_ok(&dst, &["load", "-i", file.to_str().unwrap()]);
    assert_eq!(id_of(&dst, &r), image.config_digest);
    assert_fsck_clean(&dst);

    // A single-member layer's trailer is right: no second try.
    let v1 = app_image("1.0", MediaFormat::Oci);
    let src = pulled(&reg, &[(&v1, "demo/app:1.0")]);
    let r1 = reg.reference("demo/app:1.0");
    let file = src.root.path().join("app.tar");
    let out = std_imagectl(&src)
        .args(["-v", "save", "-o", file.to_str().unwrap(), &r1])
        .output()
        .unwrap();
    ok(&out, "imagectl save -o");
    assert!(
        !text(&out.stderr).contains("gzip trailer"),
        "{}",
        text(&out.stderr)
    );
    let dst = TestEnv::new();
    run_ok(&dst, &["load", "-i", file.to_str().unwrap()]);
    assert_eq!(id_of(&dst, &r1), v1.config_digest);
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

/// `save -o` decodes layers in parallel into their places in the file and still checks each
/// against the config's diff_ids: a layer that is not what the config says fails the save in
/// one line naming it, for a file and for a pipe, and leaves no file behind.
#[test]
fn save_refuses_a_layer_that_is_not_its_diff_id() {
    let good = Layer::random("a.bin", 1_500_000, 21);
    let other = Layer::random("c.bin", 1_000_000, 23);
    let liar = Layer {
        diff_id: other.diff_id.clone(),
        ..Layer::random("b.bin", 2_000_000, 22)
    };
    let claimed = other.diff_id.clone();
    let image = ImageBuilder::new()
        .layer(good)
        .layer(liar)
        .layer(other)
        .build();
    let reg = Registry::start();
    let src = pulled(&reg, &[(&image, "demo/liar:1")]);
    let r = reg.reference("demo/liar:1");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("liar.tar");

    let out = std_imagectl(&src)
        .args(["save", "-o", file.to_str().unwrap(), &r])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("layer 1 hashes to") && err.contains("rootfs.diff_ids says"),
        "{err}"
    );
    assert!(err.contains(fixtures::hex_of(&claimed)), "{err}");
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "neither the archive nor a temp file is left"
    );
    let out = std_imagectl(&src).args(["save", &r]).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("layer 1 hashes to"), "{err}");
}
