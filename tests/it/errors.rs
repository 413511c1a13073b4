//! Bad input: every failure is one `error:` line naming the thing and what to try, a
//! non-zero exit, and a store byte-for-byte as before.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use crate::support::fixtures::{self, ImageBuilder, Layer, MediaFormat, Standard};
use crate::support::{Registry, Scenario, TestEnv};

/// Every file under `dir` with a hash of its content (directories as entries too).
pub fn fingerprint(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                out.insert(format!("{rel}/"), String::new());
                walk(root, &path, out);
            } else {
                out.insert(rel, fixtures::sha256_digest(&std::fs::read(&path).unwrap()));
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// The single `error:` line of a failed command (asserting there is exactly one).
pub(crate) fn error_line(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure, got success: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "want one error line, got: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    errors[0].to_string()
}

/// A store holding one pulled image, and its registry.
fn populated() -> Scenario {
    Scenario::new().registry().app().pulled("demo/app:1.0")
}

/// Malformed references are refused before anything is touched; the store is not even created.
#[test]
fn invalid_references() {
    let env = TestEnv::new();
    for (input, expect) in [
        ("Nginx", "repository name must be lowercase"),
        ("nginx:", "bad tag"),
        ("nginx@sha256:abc", "invalid digest"),
        ("a//b", "bad repository path component"),
        ("host:port/app", "bad registry host"),
    ] {
        let out = env.run(&["pull", input]);
        let line = error_line(&out);
        assert!(
            line.contains("invalid reference format") || line.contains("invalid digest"),
            "{input}: {line}"
        );
        assert!(line.contains(expect), "{input}: {line}");
        assert!(
            line.contains(input.split(['@', ':']).next().unwrap()),
            "names the input: {line}"
        );
    }
    assert!(!env.store.exists());
    let out = env.run(&["tag", "x", "Bad/Name"]);
    assert!(error_line(&out).contains("must be lowercase"));
    let out = env.run(&["pull", "--platform", "linux", "busybox"]);
    assert!(error_line(&out).contains("invalid platform \"linux\""));
}

/// Unknown images: remote (404 manifest) and local (rmi, inspect, tag, history).
#[test]
fn unknown_images() {
    let sc = populated();
    let (reg, env) = (sc.reg(), sc.env());
    let before = fingerprint(&env.store);
    let nope = reg.reference("demo/nope:1.0");
    let line = error_line(&env.run(&["pull", &nope]));
    assert!(line.contains(&nope) && line.contains("not found"), "{line}");
    let line = error_line(&env.run(&["pull", &reg.reference("demo/app:9.9")]));
    assert!(
        line.contains("demo/app:9.9") && line.contains("not found"),
        "{line}"
    );
    for args in [
        vec!["rmi", "nope:1"],
        vec!["inspect", "nope:1"],
        vec!["history", "nope:1"],
        vec!["tag", "nope:1", "other:1"],
        vec!["rmi", "abcdef"],
    ] {
        let line = error_line(&env.imagectl().args(&args).output().unwrap());
        assert!(line.contains("no such image"), "{args:?}: {line}");
        assert!(line.contains("imagectl images"), "says what to try: {line}");
    }
    assert_eq!(fingerprint(&env.store), before);
}

/// A registry nobody listens on: one line naming it, and nothing written.
#[test]
fn unreachable_registry() {
    let sc = populated();
    let env = sc.env();
    let before = fingerprint(&env.store);
    let refusing = crate::support::registry::dead_port();
    let port = refusing.port();
    let r = format!("127.0.0.1:{port}/demo/app:1.0");
    let line = error_line(&env.run(&["pull", &r]));
    assert!(
        line.contains(&format!("cannot reach registry 127.0.0.1:{port}")),
        "{line}"
    );
    assert!(line.contains("connection refused"), "{line}");
    assert_eq!(fingerprint(&env.store), before);
}

/// A reference pinned by a sha512 or sha384 digest parses (docker accepts it), but pulling
/// or copying it is refused in one line saying that content cannot be verified, before any
/// registry is asked (nobody listens on the port), and no image is written.
#[test]
fn unverifiable_digest_pins() {
    let env = TestEnv::new();
    let refusing = crate::support::registry::dead_port();
    let port = refusing.port();
    let sha512 = format!("sha512:{}", "f".repeat(128));
    let sha384 = format!("sha384:{}", "0".repeat(96));
    for (alg, pinned) in [
        ("sha512", format!("127.0.0.1:{port}/demo/app@{sha512}")),
        ("sha384", format!("127.0.0.1:{port}/demo/app:1.0@{sha384}")),
    ] {
        let target = format!("127.0.0.1:{port}/demo/copy:1");
        for args in [vec!["pull", &pinned], vec!["copy", &pinned, &target]] {
            let line = error_line(&env.imagectl().args(&args).output().unwrap());
            assert!(
                line.contains(&format!("{alg} content cannot be verified by imagectl yet")),
                "{args:?}: {line}"
            );
            assert!(!line.contains("cannot reach"), "{args:?}: {line}");
        }
    }
    // At most an empty store was created: no blob, no image.
    let files = fingerprint(&env.store);
    let blob_files = files
        .iter()
        .filter(|(f, hash)| f.starts_with("blobs/") && !hash.is_empty());
    assert_eq!(blob_files.count(), 0, "{files:?}");
    if let Ok(index) = std::fs::read_to_string(env.store.join("index.json")) {
        assert!(index.contains(r#""manifests":[]"#), "{index}");
    }
}

/// Basic auth: no credentials and wrong credentials are refused with what to do; the right
/// ones from Docker's config.json work; the password never appears in any output.
#[test]
fn registry_credentials() {
    let reg = Registry::builder().htpasswd("alice", "s3cret-pw").start();
    let fx = Standard::new();
    fx.push(&reg, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    let r = reg.reference("demo/app:1.0");

    let env = TestEnv::new();
    let line = error_line(&env.run(&["pull", &r]));
    assert!(
        line.contains("requires authentication") && line.contains("docker login"),
        "{line}"
    );

    env.docker_login(&reg.host(), "alice", "wrong-pw");
    let out = env.run(&["-vv", "pull", &r]);
    let line = error_line(&out);
    assert!(line.contains("rejected the credentials"), "{line}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("wrong-pw"));
    assert!(
        !env.store.join("index.json").exists()
            || crate::support::cli::store_refs(&env.store).is_empty()
    );

    env.docker_login(&reg.host(), "alice", "s3cret-pw");
    let out = env.run(&["-vv", "pull", &r]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("s3cret-pw"), "password leaked");
    assert!(
        !all.contains(&crate::support::http::base64_encode(b"alice:s3cret-pw")),
        "credentials leaked"
    );
}

/// Corrupt the bytes a real registry stores for a blob (same length): the registry serves
/// them, imagectl rejects them by digest, and nothing of that image becomes visible.
#[test]
fn digest_mismatch_from_registry() {
    let sc = populated();
    let (reg, fx, env) = (sc.reg(), sc.fx(), sc.env());
    let before = fingerprint(&env.store);
    fx.push(reg, "app-v2", "demo/app:2.0", MediaFormat::Oci, false);
    let own_layer = &fx.app_v2.layers[1].digest;
    let hex = own_layer.trim_start_matches("sha256:");
    let data = reg.storage_dir().join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let mut bytes = std::fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();

    let line = error_line(&env.run(&["pull", &reg.reference("demo/app:2.0")]));
    assert!(line.contains(own_layer.as_str()), "names the blob: {line}");
    assert!(line.contains("failed verification"), "{line}");
    assert_eq!(
        fingerprint(&env.store),
        before,
        "the store is exactly as before"
    );
}

/// A manifest whose bytes do not match the digest the registry announces is refused.
#[test]
fn manifest_digest_mismatch_from_registry() {
    let sc = populated();
    let (reg, fx, env) = (sc.reg(), sc.fx(), sc.env());
    let before = fingerprint(&env.store);
    let digest = fx.push(reg, "app-v2", "demo/app:2.0", MediaFormat::Oci, false);
    let hex = digest.trim_start_matches("sha256:");
    let data = reg.storage_dir().join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let text = std::fs::read_to_string(&data).unwrap();
    // Same JSON, one space more: a different digest.
    std::fs::write(&data, text.replacen("{", "{ ", 1)).unwrap();
    let line = error_line(&env.run(&["pull", &reg.reference("demo/app:2.0")]));
    assert!(line.to_lowercase().contains("digest"), "{line}");
    assert!(line.contains("demo/app:2.0"), "{line}");
    assert_eq!(fingerprint(&env.store), before);
}

/// A read-only store (a read-only bind mount in a private mount namespace): the pull fails
/// with a line saying the store is not writable, and the store is untouched.
#[test]
fn read_only_store() {
    let sc = populated();
    let (reg, fx, env) = (sc.reg(), sc.fx(), sc.env());
    fx.push(reg, "app-v2", "demo/app:2.0", MediaFormat::Oci, false);
    let before = fingerprint(&env.store);
    let store = env.store.display().to_string();
    let out = crate::support::tools::tool("unshare")
        .args([
            "--mount",
            "sh",
            "-c",
            r#"mount --bind -o ro "$1" "$1" && exec "$2" --store "$1" pull "$3""#,
            "sh",
        ])
        .arg(&store)
        .arg(crate::support::cli::imagectl_bin())
        .arg(reg.reference("demo/app:2.0"))
        .env("HOME", &env.home)
        .output()
        .unwrap();
    let line = error_line(&out);
    assert!(line.contains("Read-only file system"), "{line}");
    assert!(line.contains("not writable"), "says what to do: {line}");
    assert_eq!(fingerprint(&env.store), before);
}

/// A full disk (a 1 MiB tmpfs holding the store) while a 3 MiB layer streams in: one line
/// saying the disk is full, and the store on that disk is byte-for-byte as before.
#[test]
fn disk_full_while_pulling() {
    let reg = Registry::start();
    let fx = Standard::new();
    fx.push(&reg, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    let env = TestEnv::new();
    env.imagectl()
        .args(["pull", "-q", &reg.reference("demo/app:1.0")])
        .assert()
        .success();
    let big = ImageBuilder::new()
        .layer(fixtures::base_layer())
        .layer(Layer::random("data/blob", 3 << 20, 7))
        .build();
    fixtures::push_image(&reg, &big, "demo/big:1", MediaFormat::Oci);
    drop(fx);

    let mnt = tempfile::tempdir().unwrap();
    let script = r#"
        set -e
        mount -t tmpfs -o size=1m tmpfs "$1"
        cp -a "$2" "$1/store"
        (cd "$1/store" && find . -type f | sort | xargs sha256sum) > "$1/before"
        set +e
        "$3" --store "$1/store" pull "$4" 2> "$1/err"
        echo "rc=$?"
        cat "$1/err" >&2
        (cd "$1/store" && find . -type f | sort | xargs sha256sum) > "$1/after"
        cmp -s "$1/before" "$1/after" && echo same || { echo differ; diff "$1/before" "$1/after"; }
    "#;
    let out = crate::support::tools::tool("unshare")
        .args(["--mount", "sh", "-c", script, "sh"])
        .arg(mnt.path())
        .arg(&env.store)
        .arg(crate::support::cli::imagectl_bin())
        .arg(reg.reference("demo/big:1"))
        .env("HOME", &env.home)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("rc=1"), "{stdout}{stderr}");
    assert!(stdout.contains("same"), "store changed: {stdout}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("No space left on device"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("free some space"), "{}", errors[0]);
}

/// A store directory that is something else (a non-empty directory without oci-layout) is
/// refused, not written into.
#[test]
fn refuses_a_directory_that_is_not_a_store() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.store).unwrap();
    std::fs::write(env.store.join("notes.txt"), "mine").unwrap();
    let before = fingerprint(&env.store);
    let line = error_line(&env.run(&["pull", "127.0.0.1:1/x:1"]));
    assert!(
        line.contains("is not an OCI image layout") && line.contains("--store"),
        "{line}"
    );
    let line = error_line(&env.imagectl().arg("images").output().unwrap());
    assert!(line.contains("is not an OCI image layout"), "{line}");
    assert_eq!(fingerprint(&env.store), before);
}
