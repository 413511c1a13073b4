//! Mirrors: reads go to each mirror in order, then the registry itself; what a mirror
//! serves is verified like the registry's own content.

use super::{problem_lines, run_with_config, write_config};
use crate::pull::assert_fsck_clean;
use crate::support::cli::skopeo_inspect_store;
use crate::support::fixtures::MediaFormat;
use crate::support::registry::dead_port;
use crate::support::{Registry, Scenario, TestEnv};

/// A real pull-through cache (distribution `proxy.remoteurl`) configured as a mirror serves
/// the pull: the mirror's log shows imagectl's requests, the upstream sees only the
/// mirror's, and `-v` names the mirror.
#[test]
fn pull_through_cache_mirror_serves_the_pull() {
    let sc = Scenario::new().registry().app();
    let cache = Registry::builder().proxy_remote(&sc.reg().url()).start();
    let sc = sc.mirrored_by(cache);
    let (upstream, mirror) = (sc.reg(), sc.mirror());
    let up_mark = upstream.mark();
    let reference = upstream.reference("demo/app:1.0");
    let (ok, _, err) = run_with_config(sc.env(), sc.config_path(), &["-v", "pull", &reference]);
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!("pulled {reference} from mirror {}", mirror.url())),
        "{err}"
    );
    let m = mirror.requests();
    let ours = |r: &&crate::support::registry::Request| r.user_agent.starts_with("imagectl/");
    assert!(
        m.iter()
            .filter(ours)
            .any(|r| r.method == "GET" && r.path.contains("/v2/demo/app/manifests/1.0")),
        "{m:?}"
    );
    let blob_gets = m
        .iter()
        .filter(ours)
        .filter(|r| r.method == "GET" && r.path.contains("/v2/demo/app/blobs/"))
        .count();
    assert_eq!(blob_gets, 1 + sc.fx().app_v1.layer_digests().len(), "{m:?}");
    let up = upstream.requests_since(up_mark);
    assert!(!up.is_empty(), "the cache fetched from the upstream");
    assert!(
        up.iter().all(|r| !r.user_agent.starts_with("imagectl/")),
        "imagectl went to the upstream itself: {up:?}"
    );
    assert_eq!(
        skopeo_inspect_store(sc.store(), &reference)["Digest"],
        sc.digest("demo/app:1.0").as_str()
    );
    assert_fsck_clean(sc.env());
}

/// A mirror with nothing listening is skipped after one warning and the upstream serves
/// the pull (several blobs: the dead mirror is not retried for each).
#[test]
fn stopped_mirror_falls_back_to_upstream_with_one_warning() {
    let refusing = dead_port();
    let dead = format!("http://127.0.0.1:{}", refusing.port());
    let sc = Scenario::new()
        .registry()
        .app()
        .oci("app-v2", "demo/app:2.0")
        .config(&format!(
            "registries:\n  \"{{registry}}\":\n    mirrors: [\"{dead}\"]\n"
        ));
    let upstream = sc.reg();
    let r1 = upstream.reference("demo/app:1.0");
    let r2 = upstream.reference("demo/app:2.0");
    let mark = upstream.mark();
    let (ok, _, err) = run_with_config(sc.env(), sc.config_path(), &["pull", &r1, &r2]);
    assert!(ok, "{err}");
    let problems = problem_lines(&err);
    assert!(problems.len() <= 1, "{err}");
    assert!(
        problems.iter().all(|l| l.contains(&dead)),
        "the warning names the mirror: {err}"
    );
    assert!(upstream.count_since(mark, "GET", "/blobs/") >= 3);
    assert_fsck_clean(sc.env());
}

/// A mirror that lacks the repository (a plain registry answering 404) hands over to the
/// upstream silently.
#[test]
fn mirror_without_the_repository_falls_back_to_upstream() {
    let sc = Scenario::new().registry().app().mirrored();
    let (upstream, mirror) = (sc.reg(), sc.mirror());
    let reference = upstream.reference("demo/app:1.0");
    let (ok, _, err) = run_with_config(sc.env(), sc.config_path(), &["-v", "pull", &reference]);
    assert!(ok, "{err}");
    assert!(problem_lines(&err).is_empty(), "{err}");
    assert!(
        err.contains(&format!("pulled {reference} from {}", upstream.url())),
        "{err}"
    );
    let m = mirror.requests();
    assert!(
        m.iter()
            .any(|r| r.path.contains("/v2/demo/app/manifests/1.0") && r.status == 404),
        "{m:?}"
    );
    assert_eq!(
        skopeo_inspect_store(sc.store(), &reference)["Digest"],
        sc.digest("demo/app:1.0").as_str()
    );
}

/// A mirror URL with a path prefix (as Harbor proxy-cache projects have) puts the prefix
/// before the repository path; with the upstream down, the mirror alone serves the pull.
#[test]
fn mirror_with_path_prefix_serves_prefixed_repository() {
    // The scenario's registry is the mirror; nothing listens at the upstream.
    let refusing = dead_port();
    let upstream_host = format!("127.0.0.1:{}", refusing.port());
    let sc = Scenario::new()
        .registry()
        .oci("app-v1", "hub/demo/app:1.0")
        .config(&format!(
            "registries:\n  \"{upstream_host}\":\n    mirrors: [\"{{registry_url}}/hub/\"]\n"
        ));
    let mirror = sc.reg();
    let reference = format!("{upstream_host}/demo/app:1.0");
    let (ok, _, err) = run_with_config(sc.env(), sc.config_path(), &["-v", "pull", &reference]);
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!("from mirror {}/hub", mirror.url())),
        "{err}"
    );
    assert!(mirror.count_requests("GET", "/v2/hub/demo/app/blobs/") >= 2);
    assert_eq!(
        skopeo_inspect_store(sc.store(), &reference)["Digest"],
        sc.digest("hub/demo/app:1.0").as_str()
    );
    assert_fsck_clean(sc.env());
}

/// A mirror serving wrong bytes for a layer (its storage corrupted on disk) is not
/// trusted: the layer comes from the upstream, and nothing unverified is stored.
#[test]
fn mirror_serving_wrong_bytes_is_bypassed_for_that_blob() {
    let sc = Scenario::new().registry().app().mirrored();
    let (upstream, mirror, fx) = (sc.reg(), sc.mirror(), sc.fx());
    fx.push(mirror, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    let layer = fx.app_v1.layer_digests().last().unwrap().clone();
    let hex = layer.trim_start_matches("sha256:");
    let data = mirror.storage_dir().join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let mut bytes = std::fs::read(&data).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();
    let mark = upstream.mark();
    let reference = upstream.reference("demo/app:1.0");
    let (ok, _, err) = run_with_config(sc.env(), sc.config_path(), &["pull", &reference]);
    assert!(ok, "{err}");
    assert!(
        err.contains("do not match the digest") && err.contains(&mirror.url()),
        "{err}"
    );
    let up = upstream.requests_since(mark);
    assert_eq!(
        up.iter()
            .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
            .count(),
        1,
        "only the corrupted blob comes from the upstream: {up:?}"
    );
    assert!(up.iter().any(|r| r.path.ends_with(&layer)), "{up:?}");
    assert_eq!(
        skopeo_inspect_store(sc.store(), &reference)["Digest"],
        sc.digest("demo/app:1.0").as_str()
    );
    assert_fsck_clean(sc.env());
}

/// A mirror that requires authentication gets the credentials of its own entry (keyed by
/// the mirror's host), not the upstream's.
#[test]
fn mirror_credentials_come_from_its_own_entry() {
    // The scenario's registry is the mirror; nothing listens at the upstream.
    let refusing = dead_port();
    let upstream_host = format!("127.0.0.1:{}", refusing.port());
    let sc = Scenario::new()
        .authenticated("mirror-user", "mirror-pw")
        .app()
        .file("mirror-pw", "mirror-pw\n")
        .config(&format!(
            "registries:\n  \"{upstream_host}\":\n    mirrors: [\"{{registry_url}}\"]\n  \"{{registry}}\":\n    username: mirror-user\n    password_file: \"{{dir}}/mirror-pw\"\n"
        ));
    let mirror = sc.reg();
    let reference = format!("{upstream_host}/demo/app:1.0");
    let (ok, _, err) = run_with_config(sc.env(), sc.config_path(), &["pull", &reference]);
    assert!(ok, "{err}");
    assert_eq!(
        skopeo_inspect_store(sc.store(), &reference)["Digest"],
        sc.digest("demo/app:1.0").as_str()
    );
    // Without the mirror's entry the mirror answers 401 and the (dead) upstream fails.
    let env = TestEnv::new();
    let cfg = write_config(
        &env,
        &format!(
            "registries:\n  \"{upstream_host}\":\n    mirrors: [\"{}\"]\n",
            mirror.url()
        ),
    );
    let (ok, _, err) = run_with_config(&env, &cfg, &["pull", &reference]);
    assert!(!ok);
    assert!(
        err.contains(&mirror.url()),
        "the mirror's failure is shown: {err}"
    );
}

/// Writes never go to a mirror: `push` to a registry with a mirror configured sends every
/// upload and the manifest to the registry itself.
#[test]
fn push_goes_to_the_registry_not_its_mirror() {
    let sc = Scenario::new().registry().app().mirrored();
    let (upstream, mirror) = (sc.reg(), sc.mirror());
    let source = upstream.reference("demo/app:1.0");
    let (ok, _, err) = run_with_config(sc.env(), sc.config_path(), &["pull", &source]);
    assert!(ok, "{err}");
    let mirror_mark = mirror.mark();
    let target = upstream.reference("demo/copy:1");
    let (ok, _, err) = run_with_config(sc.env(), sc.config_path(), &["push", &source, &target]);
    assert!(ok, "{err}");
    assert!(upstream.manifest_digest("demo/copy", "1").is_some());
    let m = mirror.requests_since(mirror_mark);
    assert!(
        m.iter().all(|r| r.method == "GET" || r.method == "HEAD"),
        "a write reached the mirror: {m:?}"
    );
}
