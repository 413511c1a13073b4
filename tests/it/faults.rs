//! Pulling through a fault-injecting proxy in front of a real registry: resets, truncated,
//! corrupted and stalled bodies, rate limits, 5xx bursts and servers that ignore `Range`.
//! Either the image arrives verified (a broken transfer resumes with `Range: bytes=N-`) or
//! the pull fails with one `error:` line, and the store never holds a corrupt blob.

use std::process::Output;
use std::time::{Duration, Instant};

use crate::errors::{error_line, fingerprint};
use crate::pull::assert_fsck_clean;
use crate::support::cli::skopeo_inspect_store;
use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::fixtures::{self, FixtureImage, ImageBuilder, Layer};
use crate::support::{Registry, TestEnv};

/// The big layer's size: large enough for faults well inside it.
const BIG: usize = 1_500_000;

/// A registry holding `demo/big:1.0` (a small base layer and a 1.5 MB incompressible one)
/// and a proxy in front of it.
struct Setup {
    reg: Registry,
    proxy: FaultProxy,
    image: FixtureImage,
    env: TestEnv,
}

impl Setup {
    fn new() -> Setup {
        let reg = Registry::start();
        let image = ImageBuilder::new()
            .layer(fixtures::base_layer())
            .layer(Layer::random("big.bin", BIG, 7))
            .build();
        fixtures::push_image_http(&reg, "demo/big", "1.0", &image);
        let proxy = FaultProxy::start(&reg.host());
        Setup {
            reg,
            proxy,
            image,
            env: TestEnv::new(),
        }
    }

    /// The big layer's `/blobs/<digest>` path part, to aim rules at.
    fn big_blob(&self) -> String {
        format!("/blobs/{}", self.image.layers[1].digest)
    }

    /// `demo/big:1.0` through the proxy.
    fn proxied(&self) -> String {
        format!("{}/demo/big:1.0", self.proxy.host())
    }

    /// The `Range` headers of every request for the big layer, in order.
    fn big_ranges(&self) -> Vec<Option<String>> {
        self.proxy
            .seen_matching("GET", &self.big_blob())
            .into_iter()
            .map(|s| s.range)
            .collect()
    }

    fn pull(&self, envs: &[(&str, &str)]) -> Output {
        let mut cmd = self.env.imagectl();
        cmd.args(["pull", "-q", &self.proxied()]);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// The pull succeeded and the store holds the image, verified by fsck and skopeo.
    fn assert_arrived(&self, out: &Output) {
        assert!(
            out.status.success(),
            "pull failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_fsck_clean(&self.env);
        let v = skopeo_inspect_store(&self.env.store, &self.proxied());
        assert_eq!(v["Digest"], self.image.manifest_digest.as_str());
        assert_eq!(v["Layers"], serde_json::json!(self.image.layer_digests()));
        let stored = std::fs::read(
            self.env
                .store
                .join("blobs/sha256")
                .join(fixtures::hex_of(&self.image.layers[1].digest)),
        )
        .unwrap();
        assert!(stored == self.image.layers[1].blob, "big layer differs");
    }

    /// Pull another image into the store first so a failure has something to leave
    /// unchanged; returns the store's fingerprint.
    fn populate(&self) -> std::collections::BTreeMap<String, String> {
        let other = ImageBuilder::new()
            .layer(Layer::random("small.bin", 1000, 3))
            .build();
        fixtures::push_image_http(&self.reg, "demo/other", "1.0", &other);
        self.env
            .imagectl()
            .args(["pull", "-q", &self.reg.reference("demo/other:1.0")])
            .assert()
            .success();
        fingerprint(&self.env.store)
    }

    /// The big layer is nowhere in the store, not even as a temporary file.
    fn assert_big_absent(&self) {
        let hex = fixtures::hex_of(&self.image.layers[1].digest).to_string();
        let all = fingerprint(&self.env.store);
        assert!(!all.keys().any(|k| k.contains(&hex)), "{all:?}");
    }
}

/// The offset of a resumed request (`bytes=N-`).
fn range_start(range: &str) -> u64 {
    range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an open range: {range}"))
}

/// A connection reset in the middle of a layer: the download resumes with a `Range`
/// request from where it broke, and the blob is verified whole.
#[test]
fn reset_mid_blob_resumes_with_range() {
    let s = Setup::new();
    s.proxy
        .add(Rule::new("GET", &s.big_blob(), Fault::ResetAfter(600_000)).times(1));
    let out = s.pull(&[]);
    s.assert_arrived(&out);
    let ranges = s.big_ranges();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], None);
    // A reset may discard what the kernel had received but not yet delivered.
    let n = range_start(ranges[1].as_deref().expect("second request has a Range"));
    assert!(n > 0 && n <= 600_000, "{n}");
}

/// Bodies that end early (clean close although Content-Length promised more), twice in a
/// row: each resume starts exactly where the last one stopped.
#[test]
fn truncated_bodies_resume_where_they_stopped() {
    let s = Setup::new();
    s.proxy
        .add(Rule::new("GET", &s.big_blob(), Fault::Truncate(500_000)).times(2));
    let out = s.pull(&[]);
    s.assert_arrived(&out);
    assert_eq!(
        s.big_ranges(),
        vec![
            None,
            Some("bytes=500000-".to_string()),
            Some("bytes=1000000-".to_string())
        ]
    );
}

/// A body that stalls longer than the read timeout is abandoned and resumed.
#[test]
fn stalled_body_times_out_and_resumes() {
    let s = Setup::new();
    s.proxy.add(
        Rule::new(
            "GET",
            &s.big_blob(),
            Fault::Stall(200_000, Duration::from_secs(60)),
        )
        .times(1),
    );
    let start = Instant::now();
    let out = s.pull(&[("IMAGECTL_READ_TIMEOUT_SECS", "2")]);
    s.assert_arrived(&out);
    assert_eq!(
        s.big_ranges(),
        vec![None, Some("bytes=200000-".to_string())]
    );
    // Resumed after the 2 s timeout, not after the 60 s stall ended (the rest of the pull
    // has 28 s, whatever else runs on the machine).
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
}

/// A server that answers a resumed request with the whole blob (200): the download starts
/// over instead of appending, and the result is verified.
#[test]
fn server_ignoring_range_restarts_from_zero() {
    let s = Setup::new();
    s.proxy
        .add(Rule::new("GET", &s.big_blob(), Fault::Truncate(700_000)).times(1));
    s.proxy
        .add(Rule::new("GET", &s.big_blob(), Fault::IgnoreRange).times(1));
    let out = s.pull(&[]);
    s.assert_arrived(&out);
    let seen = s.proxy.seen_matching("GET", &s.big_blob());
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].range.as_deref(), Some("bytes=700000-"));
    assert_eq!(seen[1].fault, Fault::IgnoreRange);
}

/// A 206 whose `Content-Range` starts elsewhere than asked: the download starts over with
/// a request for the whole blob.
#[test]
fn wrong_content_range_restarts_from_zero() {
    let s = Setup::new();
    s.proxy
        .add(Rule::new("GET", &s.big_blob(), Fault::Truncate(300_000)).times(1));
    s.proxy
        .add(Rule::new("GET", &s.big_blob(), Fault::WrongContentRange).times(1));
    let out = s.pull(&[]);
    s.assert_arrived(&out);
    assert_eq!(
        s.big_ranges(),
        vec![None, Some("bytes=300000-".to_string()), None]
    );
}

/// A layer that keeps breaking fails the pull after a bounded number of attempts, with one
/// error line, and the store is exactly as before.
#[test]
fn blob_that_keeps_failing_fails_cleanly() {
    let s = Setup::new();
    let before = s.populate();
    s.proxy
        .add(Rule::new("GET", &s.big_blob(), Fault::ResetAfter(100_000)));
    let out = s.pull(&[]);
    let line = error_line(&out);
    assert!(
        line.contains(&s.image.layers[1].digest) && line.contains("gave up after 5 attempts"),
        "{line}"
    );
    assert_eq!(s.big_ranges().len(), 5);
    assert_eq!(fingerprint(&s.env.store), before);
    assert_big_absent_and_fsck(&s);
}

fn assert_big_absent_and_fsck(s: &Setup) {
    s.assert_big_absent();
    assert_fsck_clean(&s.env);
}

/// Corrupted bytes in a layer: the digest check refuses it, nothing is stored, and pulling
/// again through a healthy path succeeds.
#[test]
fn corrupted_blob_is_refused_then_healthy_pull_succeeds() {
    let s = Setup::new();
    let before = s.populate();
    s.proxy
        .add(Rule::new("GET", &s.big_blob(), Fault::Corrupt(1_000_000)));
    let out = s.pull(&[]);
    let line = error_line(&out);
    assert!(line.contains(&s.image.layers[1].digest), "{line}");
    assert_eq!(fingerprint(&s.env.store), before);
    assert_big_absent_and_fsck(&s);

    s.proxy.clear();
    let out = s.pull(&[]);
    s.assert_arrived(&out);
}

/// Connections reset before any response (manifest and layer alike) are retried with
/// backoff, and the image arrives.
#[test]
fn connections_dropped_before_a_response_are_retried() {
    let s = Setup::new();
    s.proxy
        .add(Rule::new("GET", "/manifests/", Fault::Drop).times(2));
    s.proxy
        .add(Rule::new("GET", &s.big_blob(), Fault::Drop).times(2));
    let out = s.pull(&[]);
    s.assert_arrived(&out);
    assert_eq!(s.proxy.seen_matching("GET", "/manifests/").len(), 3);
    assert_eq!(s.big_ranges(), vec![None, None, None]);
}

/// A 503 burst on a layer is retried with backoff and the image arrives.
#[test]
fn server_error_burst_is_retried() {
    let s = Setup::new();
    s.proxy
        .add(Rule::new("GET", &s.big_blob(), Fault::Status(503)).times(3));
    let out = s.pull(&[]);
    s.assert_arrived(&out);
    assert_eq!(s.big_ranges().len(), 4);
}

/// A registry that keeps failing with 503 fails the pull with one line naming the status.
#[test]
fn persistent_server_error_fails_cleanly() {
    let s = Setup::new();
    let before = s.populate();
    s.proxy
        .add(Rule::new("GET", "/manifests/", Fault::Status(503)));
    let out = s.pull(&[]);
    let line = error_line(&out);
    assert!(line.contains("server error 503"), "{line}");
    // One request and three retries.
    assert_eq!(s.proxy.seen_matching("GET", "/manifests/").len(), 4);
    assert_eq!(fingerprint(&s.env.store), before);
}

/// 429 with `Retry-After: 1` is honoured (the wait is at least what the registry asked)
/// and the image arrives.
#[test]
fn rate_limit_with_retry_after_is_honoured() {
    let s = Setup::new();
    s.proxy
        .add(Rule::new("GET", &s.big_blob(), Fault::TooManyRequests).times(2));
    let start = Instant::now();
    let out = s.pull(&[]);
    s.assert_arrived(&out);
    assert_eq!(s.big_ranges().len(), 3);
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

/// A registry that keeps answering 429: the one error line says when to try again and how
/// much of Docker Hub's quota is left; `-v` logs every 429 with the same facts.
#[test]
fn persistent_rate_limit_names_wait_and_quota() {
    let s = Setup::new();
    let before = s.populate();
    s.proxy
        .add(Rule::new("GET", "/manifests/", Fault::TooManyRequests));
    let out = s
        .env
        .imagectl()
        .args(["-v", "pull", "-q", &s.proxied()])
        .output()
        .unwrap();
    let line = error_line(&out);
    assert!(line.contains("429"), "{line}");
    assert!(line.contains("try again in 1s"), "{line}");
    assert!(
        line.contains("ratelimit-remaining 0 of 100 per 21600s"),
        "{line}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let logged = stderr
        .lines()
        .filter(|l| l.contains("answered 429") && l.contains("ratelimit-remaining 0"))
        .count();
    assert_eq!(logged, 4, "{stderr}");
    assert_eq!(fingerprint(&s.env.store), before);
}

/// Requests in flight towards one registry are bounded (here to 2 by the environment knob)
/// however many layers a pull fetches at once; without the knob they overlap more.
#[test]
fn requests_per_registry_are_bounded() {
    let reg = Registry::start();
    let mut builder = ImageBuilder::new();
    for i in 0..6 {
        builder = builder.layer(Layer::random(&format!("l{i}.bin"), 100_000, 100 + i));
    }
    let image = builder.build();
    fixtures::push_image_http(&reg, "demo/many", "1.0", &image);
    for (knob, want_max) in [(Some("2"), 2), (None, 6)] {
        let proxy = FaultProxy::start(&reg.host());
        proxy.add(Rule::new(
            "GET",
            "/blobs/",
            // Long enough that the blobs' requests, sent together, all reach their stall
            // before the first one's ends, however slowly a loaded machine starts them.
            Fault::Stall(10_000, Duration::from_secs(3)),
        ));
        let env = TestEnv::new();
        let mut cmd = env.imagectl();
        cmd.args(["pull", "-q", &format!("{}/demo/many:1.0", proxy.host())]);
        if let Some(k) = knob {
            cmd.env("IMAGECTL_MAX_REQUESTS_PER_REGISTRY", k);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let max = proxy.max_stalled();
        if knob.is_some() {
            assert!(max <= want_max && max >= 1, "{knob:?}: {max}");
        } else {
            // Seven blobs (config + six layers) at the default limit of 8: all overlap.
            assert!(max >= want_max, "{knob:?}: {max}");
        }
        assert_fsck_clean(&env);
    }
}
