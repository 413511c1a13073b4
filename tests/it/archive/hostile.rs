//! Hostile archives: each is refused with exit 1 and one `error:` line naming the problem,
//! nothing is written outside the store, and the store is byte-for-byte as before (its
//! `.imagectl/tmp` aside). Each runs through `load -i FILE` and through stdin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::json;

use super::craft::{self, Entry};
use crate::errors::fingerprint;
use crate::support::fixtures::{self, FixtureImage, MediaFormat, app_image, hex_of};
use crate::support::{Registry, TestEnv};

mod lies;
mod paths;
mod sizes;

/// A store holding one pulled image, made once per test binary run below cargo's per-target
/// temp dir (statics are never dropped: `cargo clean` removes it); each test copies it.
fn template_store() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let reg = Registry::start();
        let image = app_image("1.0", MediaFormat::Oci);
        fixtures::push_image_http(&reg, "demo/app", "1.0", &image);
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("archive-templates");
        std::fs::create_dir_all(&base).unwrap();
        let dir = tempfile::Builder::new()
            .prefix("store-")
            .tempdir_in(base)
            .unwrap()
            .keep();
        let store = dir.join("store");
        crate::support::imagectl(&store)
            .args(["pull", "-q", &reg.reference("demo/app:1.0")])
            .assert()
            .success();
        store
    })
}

/// A fresh env whose store is a copy of the template.
fn populated() -> TestEnv {
    let env = TestEnv::new();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(template_store())
        .arg(&env.store)
        .status()
        .unwrap();
    assert!(status.success());
    env
}

/// The image every hostile archive pretends to carry (its base layer is in the store).
fn image() -> FixtureImage {
    app_image("6.6.6", MediaFormat::Oci)
}

/// Everything under `root` except what lives in the store's `.imagectl/tmp` (which
/// [`refused`] checks holds no file afterwards).
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fingerprint(root)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("store/.imagectl/tmp"))
        .collect()
}

/// The one `error:` line of a failed command with exit status 1.
fn error_line(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: want exit 1, got {}: {}{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors.len(),
        1,
        "{what}: want one error line, got: {stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("Loaded image"),
        "{what}: claims to have loaded something"
    );
    errors[0].to_string()
}

/// Loads `archive` (named `file_name`) into a copy of the template store, by `-i` and by
/// stdin; asserts the refusal, that its error line contains one of `keywords` (any case),
/// and that nothing changed outside `.imagectl/tmp`. Returns the error line.
fn refused(file_name: &str, archive: &[u8], keywords: &[&str]) -> String {
    let env = populated();
    let inbox = env.root.path().join("in");
    std::fs::create_dir_all(&inbox).unwrap();
    let path = inbox.join(file_name);
    std::fs::write(&path, archive).unwrap();
    let before = snapshot(env.root.path());
    assert!(before.contains_key("store/index.json"));

    let mut line = String::new();
    for via_stdin in [false, true] {
        let what = format!("{file_name} via {}", if via_stdin { "stdin" } else { "-i" });
        let out = if via_stdin {
            env.imagectl()
                .arg("load")
                .write_stdin(archive.to_vec())
                .output()
                .unwrap()
        } else {
            env.run(&["load", "-i", &path.display().to_string()])
        };
        line = error_line(&out, &what);
        let lower = line.to_lowercase();
        assert!(
            keywords.is_empty() || keywords.iter().any(|k| lower.contains(&k.to_lowercase())),
            "{what}: error line names none of {keywords:?}: {line}"
        );
        let after = snapshot(env.root.path());
        assert_eq!(after, before, "{what}: something changed");
        let staged: Vec<String> = fingerprint(&env.store.join(".imagectl/tmp"))
            .into_keys()
            .filter(|k| !k.ends_with('/'))
            .collect();
        assert!(staged.is_empty(), "{what}: staged files left: {staged:?}");
    }
    line
}

fn docker_tar(entries: &[Entry]) -> Vec<u8> {
    craft::tar(entries)
}

fn manifest(config: &str, tags: &[&str], layers: &[&str]) -> Entry {
    Entry::file(
        "manifest.json",
        serde_json::to_vec(&json!([{ "Config": config, "RepoTags": tags, "Layers": layers }]))
            .unwrap(),
    )
}

fn config_name(img: &FixtureImage) -> String {
    format!("{}.json", hex_of(&img.config_digest))
}

fn layer_tar(img: &FixtureImage, i: usize) -> Vec<u8> {
    craft::gunzip(&img.layers[i].blob)
}

/// The crafted archives are sound: unmodified, both formats load with the expected ID.
/// (Every hostile case below differs from these in one respect.)
#[test]
fn crafted_archives_load() {
    let img = image();
    for (file, bytes) in [
        (
            "docker.tar",
            craft::tar(&craft::docker_archive(&img, &["demo/hostile:1"])),
        ),
        (
            "oci.tar",
            craft::tar(&craft::oci_archive(&img, "demo/hostile:1")),
        ),
    ] {
        let env = populated();
        let out = env
            .imagectl()
            .arg("load")
            .write_stdin(bytes)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("Loaded image: demo/hostile:1"),
            "{file}: {stdout}"
        );
        let id = env.run(&["inspect", "-f", "{{.Id}}", "demo/hostile:1"]);
        assert_eq!(
            String::from_utf8_lossy(&id.stdout).trim(),
            img.config_digest,
            "{file}"
        );
    }
}

/// No error line quotes the input: a secret given by mistake (a passwd-like file, plain or
/// gzip, a tar header or JSON documents carrying it) never reaches the terminal.
#[test]
fn errors_never_echo_the_input() {
    const SECRET: &str = "S3CRET-token-0123456789";
    let passwd = format!(
        "root:x:0:0:{SECRET}:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    )
    .repeat(20);
    // A tar header whose checksum is right but whose size field is not a number.
    let mut header = [0u8; 512];
    header[..SECRET.len()].copy_from_slice(SECRET.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[124..136].copy_from_slice(format!("{:.11}\0", SECRET).as_bytes());
    header[156] = b'0';
    header[257..265].copy_from_slice(b"ustar\x0000");
    header[148..156].fill(b' ');
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut bad_header = header.to_vec();
    bad_header.extend_from_slice(&[0u8; 1024]);

    let img = image();
    let mut wrong_manifest = craft::docker_archive(&img, &["demo/hostile:1"]);
    let i = craft::position(&wrong_manifest, "manifest.json");
    wrong_manifest[i].data = format!("[\"{SECRET}\"]").into_bytes();
    let wrong_index = craft::tar(&[
        Entry::file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        Entry::file(
            "index.json",
            format!(r#"{{"schemaVersion":2,"manifests":"{SECRET}"}}"#),
        ),
    ]);

    let cases: [(&str, Vec<u8>); 5] = [
        ("passwd", passwd.clone().into_bytes()),
        ("passwd.gz", craft::gzip(passwd.as_bytes())),
        ("header.tar", bad_header),
        ("manifest.tar", craft::tar(&wrong_manifest)),
        ("index.tar", wrong_index),
    ];
    for (name, bytes) in cases {
        let line = refused(name, &bytes, &[]);
        assert!(!line.contains("S3CRET"), "{name}: {line}");
        assert!(!line.contains("root:x"), "{name}: {line}");
    }
}
