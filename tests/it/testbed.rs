//! Tests of the test bed itself: the registry harness, the fixtures and the tools the
//! other test modules rely on. They run no imagectl command.

use std::io::Read;

use crate::support::cli::{imagectl_bin, skopeo_inspect_store, skopeo_ok, store_refs};
use crate::support::fixtures::{
    self, DOCKER_LIST, DOCKER_MANIFEST, ImageBuilder, Layer, MediaFormat, OCI_INDEX, OCI_MANIFEST,
    OciLayout, Standard,
};
use crate::support::{Registry, TestEnv, http};

/// A pushed OCI fixture is served unchanged (same digest) and its requests show up in the access log.
#[test]
fn registry_starts_and_serves_pushed_fixture() {
    let reg = Registry::start();
    let fx = Standard::new();
    let digest = fx.push(&reg, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    assert_eq!(digest, fx.app_v1.manifest_digest);

    let mark = reg.mark();
    let out = skopeo_ok(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}", reg.reference("demo/app:1.0")),
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Digest"], fx.app_v1.manifest_digest.as_str());
    assert_eq!(v["Layers"], serde_json::json!(fx.app_v1.layer_digests()));
    assert_eq!(v["Architecture"], "amd64");

    assert_eq!(reg.count_requests("PUT", "/v2/demo/app/manifests/1.0"), 1);
    assert_eq!(reg.count_since(mark, "PUT", "/manifests/"), 0);
    assert!(reg.count_since(mark, "GET", "/v2/demo/app/manifests/1.0") >= 1);
    assert!(reg.count_since(mark, "GET", &fx.app_v1.config_digest) >= 1);
    assert_eq!(reg.tags("demo/app"), vec!["1.0".to_string()]);
}

/// Requests before a mark are not counted by `count_since`, requests after it are.
#[test]
fn log_mark_separates_requests() {
    let reg = Registry::start();
    http::get(&reg.host(), "/v2/_catalog").unwrap();
    let mark = reg.mark();
    assert_eq!(reg.count_since(mark, "GET", "/v2/_catalog"), 0);
    http::get(&reg.host(), "/v2/_catalog").unwrap();
    http::get(&reg.host(), "/v2/nope/tags/list").unwrap();
    assert_eq!(reg.count_since(mark, "GET", "/v2/_catalog"), 1);
    assert_eq!(reg.count_requests("GET", "/v2/_catalog"), 2);
    let since = reg.requests_since(mark);
    assert_eq!(since.len(), 2);
    assert_eq!(since[1].status, 404);
    assert!(reg.log().contains("listening on 127.0.0.1:"));
}

/// Fixtures are deterministic and self-consistent: diff_ids hash the uncompressed tars, layers hold the files.
#[test]
fn fixtures_are_deterministic_and_consistent() {
    let a = fixtures::app_image("1.0", MediaFormat::Oci);
    let b = fixtures::app_image("1.0", MediaFormat::Oci);
    assert_eq!(a.manifest_digest, b.manifest_digest);
    assert_eq!(a.config_digest, b.config_digest);
    let v2 = fixtures::app_image("2.0", MediaFormat::Oci);
    assert_eq!(
        a.layers[0].digest, v2.layers[0].digest,
        "base layer is shared"
    );
    assert_ne!(a.layers[1].digest, v2.layers[1].digest);

    let config = a.config_json();
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!(a.diff_ids())
    );
    assert_eq!(config["history"].as_array().unwrap().len(), 3);
    assert_eq!(config["os"], "linux");
    for layer in &a.layers {
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(layer.blob.as_slice())
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(fixtures::sha256_digest(&tar), layer.diff_id);
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        for (path, _) in &layer.files {
            assert!(names.contains(path), "{path} missing from {names:?}");
        }
    }

    let multi = fixtures::multi_platform("m", MediaFormat::Oci);
    let amd = multi.image("linux/amd64");
    let arm = multi.image("linux/arm64/v8");
    assert_ne!(amd.manifest_digest, arm.manifest_digest);
    assert_eq!(arm.config_json()["variant"], "v8");
    assert_eq!(amd.layers[0].digest, arm.layers[0].digest);

    let big = Layer::random("data.bin", 100_000, 7);
    assert!(big.size > 100_000, "random data does not compress");
}

/// skopeo and umoci read the fixture layout (both tags and the index).
#[test]
fn fixture_layout_is_readable_by_skopeo_and_umoci() {
    let fx = Standard::new();
    let layout = fx.layout().display().to_string();
    let v: serde_json::Value =
        serde_json::from_str(&skopeo_ok(&["inspect", &format!("oci:{layout}:app-v2")])).unwrap();
    assert_eq!(v["Digest"], fx.app_v2.manifest_digest.as_str());
    let raw = skopeo_ok(&["inspect", "--raw", &format!("oci:{layout}:multi")]);
    assert_eq!(fixtures::sha256_digest(raw.as_bytes()), fx.multi.digest);

    let out = crate::support::tools::tool("umoci")
        .args(["stat", "--json", "--image", &format!("{layout}:app-v1")])
        .output()
        .expect("run umoci");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stat: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stat["history"].as_array().unwrap().len(), 3);
}

/// `--format v2s2` converts an OCI image to Docker schema2 and keeps its config and layer blobs.
#[test]
fn docker_format_push_serves_schema2() {
    let reg = Registry::start();
    let fx = Standard::new();
    let digest = fx.push(
        &reg,
        "app-v1",
        "demo/app:docker",
        MediaFormat::Docker,
        false,
    );
    assert_ne!(digest, fx.app_v1.manifest_digest);
    let (ct, bytes) = reg.get_manifest("demo/app", "docker");
    assert_eq!(ct, DOCKER_MANIFEST);
    assert_eq!(fixtures::sha256_digest(&bytes), digest);
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(m["config"]["digest"], fx.app_v1.config_digest.as_str());
    assert_eq!(
        m["layers"][1]["digest"],
        fx.app_v1.layers[1].digest.as_str()
    );
}

/// `--all` pushes an OCI index unchanged; `--all --format v2s2` turns it into a Docker manifest list.
#[test]
fn all_platforms_push_serves_index_or_manifest_list() {
    let reg = Registry::start();
    let fx = Standard::new();

    let digest = fx.push(&reg, "multi", "demo/multi:oci", MediaFormat::Oci, true);
    assert_eq!(digest, fx.multi.digest);
    let (ct, _) = reg.get_manifest("demo/multi", "oci");
    assert_eq!(ct, OCI_INDEX);
    let arm = fx.multi.image("linux/arm64/v8");
    assert_eq!(
        reg.manifest_digest("demo/multi", &arm.manifest_digest),
        Some(arm.manifest_digest.clone())
    );

    let digest = fx.push(
        &reg,
        "multi",
        "demo/multi:docker",
        MediaFormat::Docker,
        true,
    );
    let (ct, bytes) = reg.get_manifest("demo/multi", "docker");
    assert_eq!(ct, DOCKER_LIST);
    assert_eq!(fixtures::sha256_digest(&bytes), digest);
    let list: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let entries = list["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e["mediaType"] == DOCKER_MANIFEST));
    assert_eq!(entries[1]["platform"]["variant"], "v8");

    // Without --all only the linux/amd64 image is pushed.
    let digest = fx.push(&reg, "multi", "demo/multi:amd64", MediaFormat::Oci, false);
    assert_eq!(digest, fx.multi.image("linux/amd64").manifest_digest);

    // The same through the layout-less helpers.
    let other = fixtures::multi_platform("other", MediaFormat::Oci);
    let digest = fixtures::push_index(&reg, &other, "demo/other:1", MediaFormat::Oci, true);
    assert_eq!(digest, other.digest);
    let digest = fixtures::push_image(&reg, &other.images[1], "demo/other:arm", MediaFormat::Oci);
    assert_eq!(digest, other.images[1].manifest_digest);
}

/// Plain-HTTP pushes store the fixture bytes exactly, including a Docker manifest list and a manifest without mediaType.
#[test]
fn http_push_of_docker_list_and_untyped_manifest() {
    let reg = Registry::start();
    let list = fixtures::multi_platform("list", MediaFormat::Docker);
    let digest = fixtures::push_index_http(&reg, "demo/list", "1", &list);
    assert_eq!(digest, list.digest);
    assert_eq!(reg.get_manifest("demo/list", "1").0, DOCKER_LIST);

    let bare = ImageBuilder::new()
        .layer(fixtures::base_layer())
        .omit_media_type()
        .build();
    assert!(
        !String::from_utf8_lossy(&bare.manifest)
            .contains("mediaType\":\"application/vnd.oci.image.manifest")
    );
    let digest = fixtures::push_image_http(&reg, "demo/bare", "1", &bare);
    assert_eq!(digest, bare.manifest_digest);
    assert_eq!(reg.get_manifest("demo/bare", "1").0, OCI_MANIFEST);
}

/// A registry built with `htpasswd` refuses anonymous requests and accepts the configured user.
#[test]
fn htpasswd_registry_requires_basic_auth() {
    let reg = Registry::builder().htpasswd("alice", "s3cret").start();
    assert_eq!(http::get(&reg.host(), "/v2/").unwrap().status, 401);
    let fx = Standard::new();
    let digest = fx.push(&reg, "app-v1", "private/app:1.0", MediaFormat::Oci, false);
    assert_eq!(digest, fx.app_v1.manifest_digest);
    let reqs = reg.requests();
    assert!(
        reqs.iter().any(|r| r.status == 401),
        "skopeo was challenged first"
    );
    let puts: Vec<_> = reqs
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/manifests/"))
        .collect();
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].status, 201);
    assert!(reg.credentials().is_some());
}

/// A `proxy_remote` registry is a pull-through cache that serves its remote's images.
#[test]
fn proxy_registry_pulls_through() {
    let upstream = Registry::start();
    let fx = Standard::new();
    fx.push(&upstream, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    let mirror = Registry::builder().proxy_remote(&upstream.url()).start();
    assert_eq!(
        mirror.manifest_digest("demo/app", "1.0"),
        Some(fx.app_v1.manifest_digest.clone())
    );
    assert!(
        upstream.count_requests("GET", "/v2/demo/app/manifests/1.0")
            + upstream.count_requests("HEAD", "/v2/demo/app/manifests/1.0")
            >= 1
    );
}

/// skopeo's `oci:DIR:REF` splits at the first colon, so full references with a port and a tag work as ref names.
#[test]
fn skopeo_oci_refs_may_contain_colons() {
    let reg = Registry::start();
    let fx = Standard::new();
    fx.push(&reg, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    let env = TestEnv::new();
    let reference = reg.reference("demo/app:1.0");
    let store = env.store.display().to_string();
    skopeo_ok(&[
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        &format!("docker://{reference}"),
        &format!("oci:{store}:{reference}"),
    ]);
    assert_eq!(store_refs(&env.store), vec![reference.clone()]);
    let v = skopeo_inspect_store(&env.store, &reference);
    assert_eq!(v["Digest"], fx.app_v1.manifest_digest.as_str());
    // A digest reference is a valid ref name too.
    let by_digest = format!(
        "{}@{}",
        reg.reference("demo/app"),
        fx.app_v1.manifest_digest
    );
    skopeo_ok(&[
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        &format!("docker://{by_digest}"),
        &format!("oci:{store}:{by_digest}"),
    ]);
    assert_eq!(
        skopeo_inspect_store(&env.store, &by_digest)["Digest"],
        fx.app_v1.manifest_digest.as_str()
    );
}

/// Fixture layouts written by hand with `OciLayout` can hold several refs to the same blobs.
#[test]
fn oci_layout_writer_deduplicates_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayout::create(dir.path());
    let v1 = fixtures::app_image("1.0", MediaFormat::Oci);
    layout.add_image(&v1, "a");
    layout.add_image(&v1, "b");
    layout.add_image(&fixtures::app_image("2.0", MediaFormat::Oci), "a");
    assert_eq!(
        store_refs(dir.path()),
        vec!["b".to_string(), "a".to_string()]
    );
    let blobs = std::fs::read_dir(dir.path().join("blobs/sha256"))
        .unwrap()
        .count();
    // base layer, 2 app layers, 2 configs, 2 manifests
    assert_eq!(blobs, 7);
}

/// The imagectl binary the `cli` helpers run is the one cargo built for this test run.
#[test]
fn imagectl_binary_is_built() {
    assert!(imagectl_bin().is_file(), "{}", imagectl_bin().display());
}
