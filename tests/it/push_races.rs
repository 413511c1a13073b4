//! A manifest PUT that loses a race inside the registry: distribution's filesystem driver
//! rewrites a blob's link file in place when a second writer commits the same blob, and a
//! manifest PUT reading that link mid-write answers `400 DIGEST_INVALID`. Concurrent
//! ledger writers hit it; the same PUT a moment later succeeds. The proxy replays the
//! registry's exact answer so the race is deterministic here.

use crate::support::cli::{skopeo_ok, succeeded as ok};
use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::{Registry, Scenario};

/// distribution's body for the race, as captured from a failing concurrent ledger write.
const RACE_BODY: &[u8] = br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#;

fn race() -> Fault {
    Fault::Serve(400, "application/json".into(), RACE_BODY.to_vec())
}

fn raw_manifest(reference: &str) -> String {
    skopeo_ok(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{reference}"),
    ])
}

/// A copy whose manifest PUT first meets the race is retried and lands the same bytes.
#[test]
fn a_manifest_put_that_raced_a_blob_commit_is_retried() {
    let sc = Scenario::new().registry().app();
    let target = Registry::start();
    let proxy = FaultProxy::start(&target.host());
    proxy.add(Rule::new("PUT", "/manifests/", race()).times(2));
    let env = sc.env();
    let source = sc.reg().reference("demo/app:1.0");
    let copy = format!("{}/demo/copy:1.0", proxy.host());
    ok(&env.run(&["copy", &source, &copy]));
    assert_eq!(proxy.seen_matching("PUT", "/manifests/").len(), 3);
    assert_eq!(
        raw_manifest(&target.reference("demo/copy:1.0")),
        raw_manifest(&source)
    );
}

/// A registry that keeps answering so fails the copy in a few tries, naming the manifest.
#[test]
fn a_manifest_put_refused_every_time_fails_naming_it() {
    let sc = Scenario::new().registry().app();
    let target = Registry::start();
    let proxy = FaultProxy::start(&target.host());
    proxy.add(Rule::new("PUT", "/manifests/", race()));
    let env = sc.env();
    let copy = format!("{}/demo/copy:1.0", proxy.host());
    let out = env.run(&["copy", &sc.reg().reference("demo/app:1.0"), &copy]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("manifest {copy}")) && err.contains("DIGEST_INVALID"),
        "{err}"
    );
    assert_eq!(proxy.seen_matching("PUT", "/manifests/").len(), 4);
}
