//! `imagectl copy` and the registry write API against real registries: digests preserved,
//! what crosses the wire, mounts, memory, auth, and the safe deletion of one tag.

use std::sync::Arc;

use imagectl::exec::{Copier, CopyRequest};
use imagectl::oci::{Digest, Reference};
use imagectl::registry::{ClientConfig, DeleteOutcome, RegistryClient};

use crate::support::cli::skopeo_ok;
use crate::support::fixtures::{
    ImageBuilder, Layer, MediaFormat, Standard, app_image, multi_platform, push_image_http,
    push_index_http,
};
use crate::support::{Registry, TestEnv};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

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

/// An OCI image, a Docker schema2 image, an OCI index and a Docker manifest list arrive
/// in the target with the source's digests, and skopeo reads them back verifying blobs.
#[test]
fn copies_preserve_digests_of_every_manifest_type() {
    let src = Registry::start();
    let dst = Registry::start();
    let fx = Standard::new();
    let oci = fx.push(&src, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    let docker = fx.push(&src, "app-v2", "demo/app:2.0", MediaFormat::Docker, false);
    let index = fx.push(&src, "multi", "demo/multi:oci", MediaFormat::Oci, true);
    let list = push_index_http(
        &src,
        "demo/multi",
        "docker",
        &multi_platform("list", MediaFormat::Docker),
    );
    let env = TestEnv::new();
    for (from, to, digest, all) in [
        ("demo/app:1.0", "mirror/app:1.0", &oci, false),
        ("demo/app:2.0", "mirror/app:2.0", &docker, false),
        ("demo/multi:oci", "mirror/multi:oci", &index, true),
        ("demo/multi:docker", "mirror/multi:docker", &list, true),
    ] {
        let s = src.reference(from);
        let d = dst.reference(to);
        let out = copy_ok(&env, &s, &d, &[]);
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
    for image in &fx.multi.images {
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
    let src = Registry::start();
    let dst = Registry::start();
    let fx = Standard::new();
    fx.push(&src, "multi", "demo/multi:1", MediaFormat::Oci, true);
    let env = TestEnv::new();
    let arm = fx.multi.image("linux/arm64/v8");
    let out = copy_ok(
        &env,
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
        &env,
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
        &env,
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
        &env,
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
    let src = Registry::start();
    let dst = Registry::start();
    let fx = Standard::new();
    let digest = fx.push(&src, "multi", "demo/multi:1", MediaFormat::Oci, true);
    let env = TestEnv::new();
    let (s, d) = (src.reference("demo/multi:1"), dst.reference("m/multi:1"));
    copy_ok(&env, &s, &d, &[]);

    let (ms, md) = (src.mark(), dst.mark());
    let out = copy_ok(&env, &s, &d, &[]);
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
        source: reference(&s),
        target: reference(&d),
        platforms: Vec::new(),
        source_digest: Some(digest.parse::<Digest>().unwrap()),
        target_checked: false,
    };
    let done = runtime().block_on(copier.copy(&req)).unwrap();
    assert!(done.up_to_date);
    assert_eq!(done.digest.to_string(), digest);
    assert_eq!(src.requests_since(ms).len(), 0);
    assert_eq!(dst.requests_since(md).len(), 1);
}

/// Two images sharing a base layer copied into two repositories of one target through
/// one copier: the second gets the base layer by a cross-repository mount, not an upload.
/// Within one registry the CLI mounts from the source repository.
#[test]
fn shared_layers_are_mounted() {
    let src = Registry::start();
    let dst = Registry::start();
    let fx = Standard::new();
    fx.push(&src, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    fx.push(&src, "app-v2", "demo/app:2.0", MediaFormat::Oci, false);
    let base = fx.app_v1.layers[0].digest.clone();
    assert_eq!(fx.app_v2.layers[0].digest, base);

    let copier = Arc::new(Copier::new(client(), None));
    let rt = runtime();
    let first = rt
        .block_on(copier.copy(&CopyRequest {
            source: reference(&src.reference("demo/app:1.0")),
            target: reference(&dst.reference("one/app:1.0")),
            platforms: Vec::new(),
            source_digest: None,
            target_checked: false,
        }))
        .unwrap();
    assert_eq!((first.blobs_uploaded, first.blobs_mounted), (3, 0));
    let mark = dst.mark();
    let second = rt
        .block_on(copier.copy(&CopyRequest {
            source: reference(&src.reference("demo/app:2.0")),
            target: reference(&dst.reference("two/app:2.0")),
            platforms: Vec::new(),
            source_digest: None,
            target_checked: false,
        }))
        .unwrap();
    assert_eq!((second.blobs_uploaded, second.blobs_mounted), (2, 1));
    let posts: Vec<_> = dst
        .requests_since(mark)
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert!(
        posts.iter().any(|r| r
            .path
            .contains(&format!("mount={}", base.replace(':', "%3A")))
            && r.path.contains("from=one%2Fapp")
            && r.status == 201),
        "{posts:?}"
    );
    assert_eq!(dst.count_since(mark, "PUT", &base.replace(':', "%3A")), 0);

    // Same registry, another repository: the CLI mounts every blob from the source.
    let env = TestEnv::new();
    let mark = src.mark();
    let out = copy_ok(
        &env,
        &src.reference("demo/app:1.0"),
        &src.reference("copy/app:1.0"),
        &[],
    );
    assert!(out.contains("0 blobs uploaded (0B), 3 mounted"), "{out}");
    assert_eq!(src.count_since(mark, "PATCH", "/blobs/"), 0);
    assert_eq!(src.count_since(mark, "PUT", "/blobs/"), 0);
}

/// A 64 MiB layer streams from registry to registry with memory flat: the peak RSS of the
/// copy stays well below the layer's size.
#[test]
fn large_blob_streams_with_flat_memory() {
    let src = Registry::start();
    let dst = Registry::start();
    let image = ImageBuilder::new()
        .layer(Layer::random("big.bin", 64 << 20, 7))
        .build();
    let digest = push_image_http(&src, "demo/big", "1", &image);
    let env = TestEnv::new();
    let out = crate::support::tools::tool("/usr/bin/time")
        .arg("-v")
        .arg(crate::support::cli::imagectl_bin())
        .arg("--store")
        .arg(&env.store)
        .args([
            "copy",
            &src.reference("demo/big:1"),
            &dst.reference("demo/big:1"),
        ])
        .env("HOME", &env.home)
        .env_remove("DOCKER_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("(67.1MB)"), "{}", stdout(&out));
    let rss_kb: u64 = stderr(&out)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .expect("time -v output")
        .parse()
        .unwrap();
    eprintln!("peak RSS of a 64 MiB copy: {rss_kb} kB");
    assert!(
        rss_kb < 40 * 1024,
        "peak RSS {rss_kb} kB for a 64 MiB layer"
    );
    assert_eq!(dst.manifest_digest("demo/big", "1"), Some(digest));
    skopeo_reads(&dst.reference("demo/big:1"), false);
}

/// A target with basic auth: the copy works with credentials from Docker's config.json
/// and fails with one clear line without them, having pushed nothing.
#[test]
fn auth_target() {
    let src = Registry::start();
    let dst = Registry::builder().htpasswd("pusher", "s3cret-pw").start();
    let fx = Standard::new();
    let digest = fx.push(&src, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    let (s, d) = (
        src.reference("demo/app:1.0"),
        dst.reference("private/app:1.0"),
    );

    let anonymous = TestEnv::new();
    let mark = dst.mark();
    let err = assert_one_error(&copy(&anonymous, &s, &d, &[]));
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
    let src = Registry::start();
    let fx = Standard::new();
    fx.push(&src, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    let env = TestEnv::new();

    let err = assert_one_error(&copy(
        &env,
        &src.reference("demo/app:nope"),
        &src.reference("x/app:1"),
        &[],
    ));
    assert!(
        err.contains("demo/app:nope") && err.contains("not found"),
        "{err}"
    );

    let dead = format!("127.0.0.1:{}", crate::support::registry::free_port());
    let err = assert_one_error(&copy(
        &env,
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
        &env,
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

/// delete_tag removes a tag alone on its manifest, keeps one that shares its manifest with
/// another tag (distribution 2.8 cannot delete a tag alone), and knows an absent tag.
#[test]
fn delete_tag_never_takes_other_tags() {
    let reg = Registry::start();
    let alone = app_image("1.0", MediaFormat::Oci);
    let shared = app_image("2.0", MediaFormat::Oci);
    push_image_http(&reg, "demo/app", "alone", &alone);
    push_image_http(&reg, "demo/app", "a", &shared);
    push_image_http(&reg, "demo/app", "b", &shared);
    let c = client();
    let rt = runtime();
    let del = |tag: &str| {
        rt.block_on(c.delete_tag(&reference(&reg.reference(&format!("demo/app:{tag}")))))
            .unwrap()
    };
    assert_eq!(del("alone"), DeleteOutcome::Deleted);
    assert_eq!(reg.manifest_digest("demo/app", "alone"), None);
    assert_eq!(
        reg.manifest_digest("demo/app", &alone.manifest_digest),
        None
    );
    assert_eq!(
        del("a"),
        DeleteOutcome::KeptShared {
            tags: vec!["b".to_string()]
        }
    );
    let mut tags = reg.tags("demo/app");
    tags.sort();
    assert_eq!(tags, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(del("gone"), DeleteOutcome::AlreadyAbsent);
    // distribution 2.8 refused the tag form: the first DELETE names the tag and gets 400.
    assert!(
        reg.requests().iter().any(|r| r.method == "DELETE"
            && r.path.ends_with("/manifests/alone")
            && r.status == 400)
    );
}

/// A chunked upload (PATCH pieces, then PUT ?digest=) lands the exact blob, and a blob whose
/// bytes do not match its digest is refused by the registry with a clear error.
#[test]
fn chunked_upload_and_digest_check() {
    let reg = Registry::start();
    let data = crate::support::fixtures::pseudo_random(5 << 20, 3);
    let digest: Digest = crate::support::fixtures::sha256_digest(&data)
        .parse()
        .unwrap();
    let c = client();
    let rt = runtime();
    let repo = reference(&reg.reference("demo/chunks:x"));
    let bytes = bytes::Bytes::from(data);
    let source = {
        let bytes = bytes.clone();
        move || {
            let bytes = bytes.clone();
            futures_util::FutureExt::boxed(async move {
                let parts: Vec<Result<bytes::Bytes, imagectl::registry::RegistryError>> = bytes
                    .chunks(300_000)
                    .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                    .collect();
                Ok(futures_util::StreamExt::boxed(futures_util::stream::iter(
                    parts,
                )))
            })
        }
    };
    let mark = reg.mark();
    rt.block_on(c.push_blob_chunked(&repo, &digest, bytes.len() as u64, &source, 1 << 20))
        .unwrap();
    assert_eq!(reg.count_since(mark, "PATCH", "/blobs/uploads/"), 5);
    assert_eq!(
        rt.block_on(c.blob_exists(&repo, &digest)).unwrap(),
        Some(bytes.len() as u64)
    );

    let wrong: Digest = crate::support::fixtures::sha256_digest(b"other")
        .parse()
        .unwrap();
    let e = rt
        .block_on(c.push_blob(&repo, &wrong, bytes.len() as u64, &source))
        .unwrap_err();
    assert!(e.to_string().contains("do not match the digest"), "{e}");
    assert_eq!(rt.block_on(c.blob_exists(&repo, &wrong)).unwrap(), None);
}

/// A registry with deletes disabled: delete_tag fails with an error saying so, and the tag
/// stays.
#[test]
fn delete_tag_with_deletes_disabled() {
    let reg = Registry::builder().deletes_disabled().start();
    push_image_http(&reg, "demo/app", "1", &app_image("1.0", MediaFormat::Oci));
    let e = runtime()
        .block_on(client().delete_tag(&reference(&reg.reference("demo/app:1"))))
        .unwrap_err();
    assert!(
        e.to_string().contains("does not allow deleting")
            && e.to_string().contains("storage.delete.enabled"),
        "{e}"
    );
    assert!(reg.manifest_digest("demo/app", "1").is_some());
}

/// A mount from a repository that lacks the blob: the registry opens an upload instead,
/// which mount_blob cancels and reports as not mounted.
#[test]
fn mount_from_a_repository_without_the_blob() {
    let reg = Registry::start();
    let image = app_image("1.0", MediaFormat::Oci);
    push_image_http(&reg, "demo/app", "1", &image);
    let c = client();
    let rt = runtime();
    let digest: Digest = image.config_digest.parse().unwrap();
    let target = reference(&reg.reference("other/app:1"));
    assert!(
        !rt.block_on(c.mount_blob(&target, &digest, "empty/repo"))
            .unwrap()
    );
    assert!(
        rt.block_on(c.mount_blob(&target, &digest, "demo/app"))
            .unwrap()
    );
    assert_eq!(
        rt.block_on(c.blob_exists(&target, &digest)).unwrap(),
        Some(image.config_size)
    );
    // The upload the first mount opened was cancelled.
    assert_eq!(reg.count_requests("DELETE", "/other/app/blobs/uploads/"), 1);
}

/// Blobs the local store holds are read from disk: a copy after a pull fetches no blob
/// from the source registry, and the target still verifies every byte by digest.
#[test]
fn blobs_come_from_the_store_when_it_has_them() {
    let src = Registry::start();
    let dst = Registry::start();
    let fx = Standard::new();
    let digest = fx.push(&src, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    let env = TestEnv::new();
    let s = src.reference("demo/app:1.0");
    env.imagectl().args(["pull", &s]).assert().success();
    let mark = src.mark();
    let d = dst.reference("demo/app:1.0");
    let out = copy_ok(&env, &s, &d, &[]);
    assert!(out.contains("3 blobs uploaded"), "{out}");
    assert_eq!(src.count_since(mark, "GET", "/blobs/"), 0);
    assert_eq!(dst.manifest_digest("demo/app", "1.0"), Some(digest));
    skopeo_reads(&d, false);
}

/// Two copies running at once into one repository through one copier, sharing a base
/// layer: each blob is uploaded once (distribution 2.8 fails racing uploads of one blob).
#[test]
fn concurrent_copies_upload_a_shared_blob_once() {
    let src = Registry::start();
    let dst = Registry::start();
    let fx = Standard::new();
    fx.push(&src, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    fx.push(&src, "app-v2", "demo/app:2.0", MediaFormat::Oci, false);
    let copier = Arc::new(Copier::new(client(), None));
    let req = |tag: &str| CopyRequest {
        source: reference(&src.reference(&format!("demo/app:{tag}"))),
        target: reference(&dst.reference(&format!("same/app:{tag}"))),
        platforms: Vec::new(),
        source_digest: None,
        target_checked: false,
    };
    let (a, b) = (req("1.0"), req("2.0"));
    let (ra, rb) = runtime().block_on(async { tokio::join!(copier.copy(&a), copier.copy(&b)) });
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.blobs_uploaded + rb.blobs_uploaded, 5);
    assert_eq!(ra.blobs_present + rb.blobs_present, 1);
    let base = fx.app_v1.layers[0].digest.replace(':', "%3A");
    assert_eq!(dst.count_requests("PUT", &base), 1);
    assert_eq!(dst.tags("same/app").len(), 2);
}

/// `imagectl push` sends an image of the store to a registry: an OCI image keeps its
/// digest, a Docker schema2 image arrives as the OCI manifest the store holds (new digest,
/// same config and layers); a second push is one HEAD; an unknown image is one error line.
#[test]
fn push_from_the_store() {
    let src = Registry::start();
    let dst = Registry::start();
    let fx = Standard::new();
    let oci = fx.push(&src, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    let docker = fx.push(&src, "app-v2", "demo/app:2.0", MediaFormat::Docker, false);
    let env = TestEnv::new();
    let (s1, s2) = (src.reference("demo/app:1.0"), src.reference("demo/app:2.0"));
    env.imagectl().args(["pull", &s1, &s2]).assert().success();

    let out = env
        .imagectl()
        .args(["push", &s1, &dst.reference("pushed/app")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("3 blobs uploaded"),
        "{}",
        stdout(&out)
    );
    assert_eq!(dst.manifest_digest("pushed/app", "1.0"), Some(oci.clone()));

    let out = env
        .imagectl()
        .args(["push", &s2, &dst.reference("pushed/app:2.0")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let pushed = dst.manifest_digest("pushed/app", "2.0").unwrap();
    assert_ne!(pushed, docker);
    let (content_type, bytes) = dst.get_manifest("pushed/app", "2.0");
    assert!(content_type.starts_with("application/vnd.oci.image.manifest.v1+json"));
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(m["config"]["digest"], fx.app_v2.config_digest.as_str());
    skopeo_reads(&dst.reference("pushed/app:2.0"), false);

    let mark = dst.mark();
    let out = env
        .imagectl()
        .args(["push", &s1, &dst.reference("pushed/app:1.0")])
        .output()
        .unwrap();
    assert!(stdout(&out).contains("is up to date"), "{}", stdout(&out));
    assert_eq!(dst.requests_since(mark).len(), 1);

    let out = env
        .imagectl()
        .args(["push", "nothere:1", &dst.reference("x/y:1")])
        .output()
        .unwrap();
    let err = assert_one_error(&out);
    assert!(err.contains("no such image"), "{err}");
}

/// Two platforms of a three-platform Docker manifest list: the target gets a manifest list
/// of just those two (same media type, entries unchanged), with its own digest.
#[test]
fn several_platforms_make_a_filtered_index() {
    use crate::support::fixtures::{FixtureIndex, Platform};
    let src = Registry::start();
    let dst = Registry::start();
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
    let source_digest = push_index_http(&src, "demo/three", "1", &index);
    let env = TestEnv::new();
    let out = copy_ok(
        &env,
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
