//! How copy and push move blobs: mounted across repositories, streamed with flat memory,
//! uploaded in chunks with the digest checked, read from the store when it has them, and
//! uploaded once when copies share them.

use super::*;

/// Two images sharing a base layer copied into two repositories of one target through
/// one copier: the second gets the base layer by a cross-repository mount, not an upload.
/// Within one registry the CLI mounts from the source repository.
#[test]
fn shared_layers_are_mounted() {
    let sc = Scenario::new()
        .registry()
        .target()
        .app()
        .oci("app-v2", "demo/app:2.0");
    let (src, dst, fx) = (sc.reg(), sc.dst(), sc.fx());
    let base = fx.app_v1.layers[0].digest.clone();
    assert_eq!(fx.app_v2.layers[0].digest, base);

    let copier = Arc::new(Copier::new(client(), None));
    let rt = runtime();
    let first = rt
        .block_on(copier.copy(&copy_request(
            &src.reference("demo/app:1.0"),
            &dst.reference("one/app:1.0"),
        )))
        .unwrap();
    assert_eq!((first.blobs_uploaded, first.blobs_mounted), (3, 0));
    let mark = dst.mark();
    let second = rt
        .block_on(copier.copy(&copy_request(
            &src.reference("demo/app:2.0"),
            &dst.reference("two/app:2.0"),
        )))
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
    let image = ImageBuilder::new()
        .layer(Layer::random("big.bin", 64 << 20, 7))
        .build();
    let sc = Scenario::new()
        .registry()
        .target()
        .image("demo/big:1", &image);
    let (src, dst, env, digest) = (sc.reg(), sc.dst(), sc.env(), sc.digest("demo/big:1"));
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
    let sc = Scenario::new().registry().target().app();
    let (src, dst, env, digest) = (sc.reg(), sc.dst(), sc.env(), sc.digest("demo/app:1.0"));
    let s = src.reference("demo/app:1.0");
    env.imagectl().args(["pull", &s]).assert().success();
    let mark = src.mark();
    let d = dst.reference("demo/app:1.0");
    let out = copy_ok(env, &s, &d, &[]);
    assert!(out.contains("3 blobs uploaded"), "{out}");
    assert_eq!(src.count_since(mark, "GET", "/blobs/"), 0);
    assert_eq!(dst.manifest_digest("demo/app", "1.0"), Some(digest));
    skopeo_reads(&d, false);
}

/// Two copies running at once into one repository through one copier, sharing a base
/// layer: each blob is uploaded once (distribution 2.8 fails racing uploads of one blob).
#[test]
fn concurrent_copies_upload_a_shared_blob_once() {
    let sc = Scenario::new()
        .registry()
        .target()
        .app()
        .oci("app-v2", "demo/app:2.0");
    let (src, dst, fx) = (sc.reg(), sc.dst(), sc.fx());
    let copier = Arc::new(Copier::new(client(), None));
    let req = |tag: &str| {
        copy_request(
            &src.reference(&format!("demo/app:{tag}")),
            &dst.reference(&format!("same/app:{tag}")),
        )
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
    let sc = Scenario::new()
        .registry()
        .app()
        .pushed("app-v2", "demo/app:2.0", MediaFormat::Docker, false)
        .target();
    let (src, dst, fx, env) = (sc.reg(), sc.dst(), sc.fx(), sc.env());
    let (oci, docker) = (sc.digest("demo/app:1.0"), sc.digest("demo/app:2.0"));
    let (s1, s2) = (src.reference("demo/app:1.0"), src.reference("demo/app:2.0"));
    env.imagectl().args(["pull", &s1, &s2]).assert().success();

    let out = env.run(&["push", &s1, &dst.reference("pushed/app")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("3 blobs uploaded"),
        "{}",
        stdout(&out)
    );
    assert_eq!(dst.manifest_digest("pushed/app", "1.0"), Some(oci.clone()));

    let out = env.run(&["push", &s2, &dst.reference("pushed/app:2.0")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pushed = dst.manifest_digest("pushed/app", "2.0").unwrap();
    assert_ne!(pushed, docker);
    let (content_type, bytes) = dst.get_manifest("pushed/app", "2.0");
    assert!(content_type.starts_with("application/vnd.oci.image.manifest.v1+json"));
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(m["config"]["digest"], fx.app_v2.config_digest.as_str());
    skopeo_reads(&dst.reference("pushed/app:2.0"), false);

    let mark = dst.mark();
    let out = env.run(&["push", &s1, &dst.reference("pushed/app:1.0")]);
    assert!(stdout(&out).contains("is up to date"), "{}", stdout(&out));
    assert_eq!(dst.requests_since(mark).len(), 1);

    let out = env.run(&["push", "nothere:1", &dst.reference("x/y:1")]);
    let err = assert_one_error(&out);
    assert!(err.contains("no such image"), "{err}");
}
