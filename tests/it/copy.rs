//! `imagectl copy` and the registry write API against real registries: digests preserved,
//! what crosses the wire, mounts, memory, auth, and the safe deletion of one tag.

use std::sync::Arc;

use imagectl::exec::{Copier, CopyRequest};
use imagectl::oci::{Digest, Reference};
use imagectl::registry::{ClientConfig, DeleteOutcome, RegistryClient};

use crate::support::cli::skopeo_ok;
use crate::support::fixtures::{
    ImageBuilder, Layer, MediaFormat, app_image, multi_platform, push_image_http,
};
use crate::support::output::{stderr, stdout};
use crate::support::{Registry, Scenario, TestEnv};

mod blobs;
mod delete;

/// Runs `imagectl copy SRC DST ARGS...` and returns its output.
fn copy(env: &TestEnv, src: &str, dst: &str, args: &[&str]) -> std::process::Output {
    env.imagectl()
        .args(["copy", src, dst])
        .args(args)
        .output()
        .unwrap()
}

/// Asserts the copy succeeded and printed the `Copied` line; returns stdout.
fn copy_ok(env: &TestEnv, src: &str, dst: &str, args: &[&str]) -> String {
    let out = copy(env, src, dst, args);
    assert!(out.status.success(), "copy {src} {dst}: {}", stderr(&out));
    stdout(&out)
}

/// Asserts a failed command printed exactly one `error:` line and exited 1.
fn assert_one_error(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(out), stderr(out));
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    err
}

/// `skopeo copy` of the target into an OCI layout: skopeo verifies every blob's digest.
fn skopeo_reads(reference: &str, all: bool) {
    let dir = tempfile::tempdir().unwrap();
    let dst = format!("oci:{}:copy", dir.path().join("layout").display());
    let src = format!("docker://{reference}");
    let mut args = vec!["copy", "--quiet", "--src-tls-verify=false"];
    if all {
        args.push("--all");
    }
    args.extend([src.as_str(), dst.as_str()]);
    skopeo_ok(&args);
}

fn client() -> RegistryClient {
    RegistryClient::new(ClientConfig::default()).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn reference(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

/// A library copy of `from` to `to` (whole references), every option at its default.
fn copy_request(from: &str, to: &str) -> CopyRequest {
    CopyRequest {
        source: reference(from),
        target: reference(to),
        platforms: Vec::new(),
        source_digest: None,
        target_checked: false,
    }
}

/// An OCI image, a Docker schema2 image, an OCI index and a Docker manifest list arrive
/// in the target with the source's digests, and skopeo reads them back verifying blobs.
#[test]
fn copies_preserve_digests_of_every_manifest_type() {
    let sc = Scenario::new()
        .registry()
        .target()
        .app()
        .pushed("app-v2", "demo/app:2.0", MediaFormat::Docker, false)
        .pushed("multi", "demo/multi:oci", MediaFormat::Oci, true)
        .index(
            "demo/multi:docker",
            &multi_platform("list", MediaFormat::Docker),
        );
    let (src, dst) = (sc.reg(), sc.dst());
    for (from, to, all) in [
        ("demo/app:1.0", "mirror/app:1.0", false),
        ("demo/app:2.0", "mirror/app:2.0", false),
        ("demo/multi:oci", "mirror/multi:oci", true),
        ("demo/multi:docker", "mirror/multi:docker", true),
    ] {
        let digest = sc.digest(from);
        let s = src.reference(from);
        let d = dst.reference(to);
        let out = copy_ok(sc.env(), &s, &d, &[]);
        assert!(
            out.starts_with(&format!("Copied {s} -> {d} ({digest}): ")),
            "{out}"
        );
        let (repo, tag) = to.split_once(':').unwrap();
        assert_eq!(
            dst.manifest_digest(repo, tag).as_deref(),
            Some(digest.as_str())
        );
        skopeo_reads(&d, all);
    }
    // The index's children were pushed by digest, so both platforms are there.
    for image in &sc.fx().multi.images {
        assert!(
            dst.manifest_digest("mirror/multi", &image.manifest_digest)
                .is_some()
        );
    }
}

/// One platform of an index: the target tag points at that platform's manifest, its
/// digest unchanged; two platforms of a three-entry list make a filtered list (new digest).
#[test]
fn platform_selection() {
    let sc = Scenario::new()
        .registry()
        .pushed("multi", "demo/multi:1", MediaFormat::Oci, true)
        .target();
    let (src, dst, fx, env) = (sc.reg(), sc.dst(), sc.fx(), sc.env());
    let arm = fx.multi.image("linux/arm64/v8");
    let out = copy_ok(
        env,
        &src.reference("demo/multi:1"),
        &dst.reference("one/multi:1"),
        &["--platform", "linux/arm64/v8"],
    );
    assert!(out.contains(&arm.manifest_digest), "{out}");
    assert_eq!(
        dst.manifest_digest("one/multi", "1").as_deref(),
        Some(arm.manifest_digest.as_str())
    );
    let out = copy(
        env,
        &src.reference("demo/multi:1"),
        &dst.reference("one/multi:2"),
        &["--platform", "linux/s390x"],
    );
    let err = assert_one_error(&out);
    assert!(
        err.contains("linux/s390x") && err.contains("linux/amd64"),
        "{err}"
    );
    assert!(dst.manifest_digest("one/multi", "2").is_none());

    // Again: the index says which manifest that is, so no platform manifest is fetched
    // and the target costs one HEAD.
    let (ms, md) = (src.mark(), dst.mark());
    let out = copy_ok(
        env,
        &src.reference("demo/multi:1"),
        &dst.reference("one/multi:1"),
        &["--platform", "linux/arm64/v8"],
    );
    assert!(out.contains("is up to date"), "{out}");
    let on_src: Vec<String> = src
        .requests_since(ms)
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(on_src.len(), 2, "{on_src:?}");
    assert!(
        on_src[1].starts_with("GET") && on_src[1].contains(&fx.multi.digest),
        "{on_src:?}"
    );
    assert_eq!(dst.requests_since(md).len(), 1);

    // Both platforms named: the whole index, byte for byte (nothing was filtered out).
    let out = copy_ok(
        env,
        &src.reference("demo/multi:1"),
        &dst.reference("two/multi:1"),
        &["--platform", "linux/amd64", "--platform", "linux/arm64/v8"],
    );
    assert!(out.contains(&fx.multi.digest), "{out}");
}

/// A second copy of an unchanged image costs one manifest HEAD at each registry and
/// nothing else; with the source digest given (the API), only the one HEAD at the target.
#[test]
fn second_copy_costs_one_head() {
    let sc = Scenario::new()
        .registry()
        .pushed("multi", "demo/multi:1", MediaFormat::Oci, true)
        .target();
    let (src, dst, env, digest) = (sc.reg(), sc.dst(), sc.env(), sc.digest("demo/multi:1"));
    let (s, d) = (src.reference("demo/multi:1"), dst.reference("m/multi:1"));
    copy_ok(env, &s, &d, &[]);

    let (ms, md) = (src.mark(), dst.mark());
    let out = copy_ok(env, &s, &d, &[]);
    assert_eq!(out.trim(), format!("{d} is up to date ({digest})"));
    let on_src = src.requests_since(ms);
    let on_dst = dst.requests_since(md);
    assert_eq!(on_src.len(), 1, "{on_src:?}");
    assert_eq!((on_src[0].method.as_str(), on_src[0].status), ("HEAD", 200));
    assert_eq!(on_dst.len(), 1, "{on_dst:?}");
    assert_eq!(on_dst[0].method, "HEAD");
    assert!(on_dst[0].path.ends_with("/manifests/1"), "{on_dst:?}");

    let (ms, md) = (src.mark(), dst.mark());
    let copier = Copier::new(client(), None);
    let req = CopyRequest {
        source_digest: Some(digest.parse::<Digest>().unwrap()),
        ..copy_request(&s, &d)
    };
    let done = runtime().block_on(copier.copy(&req)).unwrap();
    assert!(done.up_to_date);
    assert_eq!(done.digest.to_string(), digest);
    assert_eq!(src.requests_since(ms).len(), 0);
    assert_eq!(dst.requests_since(md).len(), 1);
}

/// A target with basic auth: the copy works with credentials from Docker's config.json
/// and fails with one clear line without them, having pushed nothing.
#[test]
fn auth_target() {
    let sc = Scenario::new()
        .registry()
        .with_target(Registry::builder().htpasswd("pusher", "s3cret-pw").start())
        .app();
    let (src, dst, digest) = (sc.reg(), sc.dst(), sc.digest("demo/app:1.0"));
    let (s, d) = (
        src.reference("demo/app:1.0"),
        dst.reference("private/app:1.0"),
    );

    let anonymous = sc.env();
    let mark = dst.mark();
    let err = assert_one_error(&copy(anonymous, &s, &d, &[]));
    assert!(
        err.contains("requires authentication") && err.contains("docker login"),
        "{err}"
    );
    assert_eq!(dst.tags("private/app"), Vec::<String>::new());
    let writes = dst
        .requests_since(mark)
        .into_iter()
        .filter(|r| r.status < 400 && r.method != "HEAD" && r.method != "GET")
        .count();
    assert_eq!(writes, 0);

    let env = TestEnv::new();
    env.docker_login(&dst.host(), "pusher", "s3cret-pw");
    let out = copy_ok(&env, &s, &d, &[]);
    assert!(out.contains(&digest), "{out}");
    assert!(!out.contains("s3cret") && !dst.log().contains("s3cret"));
    assert_eq!(dst.tags("private/app"), vec!["1.0".to_string()]);

    // Every request of a copy logged at trace level: neither the password nor the Basic
    // header's base64 appears.
    let out = env
        .imagectl()
        .env("RUST_LOG", "trace")
        .args(["copy", &s, &dst.reference("private/traced:1")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(
        log.contains("PUT") && log.contains("/blobs/uploads/"),
        "{log}"
    );
    let basic = crate::support::http::base64_encode(b"pusher:s3cret-pw");
    assert!(!log.contains("s3cret") && !log.contains(&basic));
}

/// Failures are one `error:` line and exit 1: an unknown source tag, an unreachable
/// target, and a target that refuses pushes (a read-only pull-through cache).
#[test]
fn copy_errors_are_one_line() {
    let sc = Scenario::new().registry().app();
    let (src, env) = (sc.reg(), sc.env());

    let err = assert_one_error(&copy(
        env,
        &src.reference("demo/app:nope"),
        &src.reference("x/app:1"),
        &[],
    ));
    assert!(
        err.contains("demo/app:nope") && err.contains("not found"),
        "{err}"
    );

    let refusing = crate::support::registry::dead_port();
    let dead = format!("127.0.0.1:{}", refusing.port());
    let err = assert_one_error(&copy(
        env,
        &src.reference("demo/app:1.0"),
        &format!("{dead}/x/app:1"),
        &[],
    ));
    assert!(
        err.contains("cannot reach registry") && err.contains(&dead),
        "{err}"
    );

    let cache = Registry::builder().proxy_remote(&src.url()).start();
    let err = assert_one_error(&copy(
        env,
        &src.reference("demo/app:1.0"),
        &cache.reference("x/app:1"),
        &[],
    ));
    assert!(
        err.contains("refused") && err.contains("UNSUPPORTED"),
        "{err}"
    );
    assert!(cache.manifest_digest("x/app", "1").is_none());
}

/// Two platforms of a three-platform Docker manifest list: the target gets a manifest list
/// of just those two (same media type, entries unchanged), with its own digest.
#[test]
fn several_platforms_make_a_filtered_index() {
    use crate::support::fixtures::{FixtureIndex, Platform};
    let images = ["linux/amd64", "linux/arm64/v8", "linux/s390x"]
        .iter()
        .map(|p| {
            ImageBuilder::new()
                .format(MediaFormat::Docker)
                .platform(Platform::parse(p))
                .layer(Layer::from_files(&[("etc/platform", *p)]))
                .build()
        })
        .collect();
    let index = FixtureIndex::new(MediaFormat::Docker, images);
    let sc = Scenario::new()
        .registry()
        .target()
        .index("demo/three:1", &index);
    let (src, dst, source_digest) = (sc.reg(), sc.dst(), sc.digest("demo/three:1"));
    let out = copy_ok(
        sc.env(),
        &src.reference("demo/three:1"),
        &dst.reference("demo/three:1"),
        &["--platform", "linux/s390x", "--platform", "linux/amd64"],
    );
    let pushed = dst.manifest_digest("demo/three", "1").unwrap();
    assert_ne!(pushed, source_digest);
    assert!(out.contains(&pushed), "{out}");
    let (content_type, bytes) = dst.get_manifest("demo/three", "1");
    assert!(content_type.starts_with(crate::support::fixtures::DOCKER_LIST));
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let kept: Vec<&str> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        kept,
        vec![
            index.image("linux/amd64").manifest_digest.as_str(),
            index.image("linux/s390x").manifest_digest.as_str()
        ]
    );
    skopeo_reads(&dst.reference("demo/three:1"), true);
}
