//! A registry that sends no `Docker-Content-Digest` on a manifest `HEAD` (some proxies and
//! older registries): the GET that learning the digest then takes is the one the operation
//! uses, so such a registry costs one request more than a HEAD alone, never two.

use crate::support::cli::succeeded as ok;
use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::{Registry, Scenario};

/// Manifest requests the proxy saw, as `(method, count)` for HEAD and GET.
fn manifest_requests(proxy: &FaultProxy) -> (usize, usize) {
    (
        proxy.seen_matching("HEAD", "/manifests/").len(),
        proxy.seen_matching("GET", "/manifests/").len(),
    )
}

/// Re-pulling an unchanged tag from such a registry costs one HEAD and one GET and no
/// blob; copying from it reads the source manifest once (HEAD, then one GET).
#[test]
fn a_head_without_a_digest_costs_one_get() {
    let sc = Scenario::new().registry().app();
    let proxy = FaultProxy::start(&sc.reg().host());
    proxy.add(Rule::new(
        "HEAD",
        "/manifests/",
        Fault::StripHeader("Docker-Content-Digest".into()),
    ));
    let env = sc.env();
    let image = format!("{}/demo/app:1.0", proxy.host());
    ok(&env.run(&["pull", &image]));
    let before = manifest_requests(&proxy);
    let blobs = proxy.seen_matching("GET", "/blobs/").len();
    let again = ok(&env.run(&["pull", &image]));
    assert!(again.contains("up to date"), "{again}");
    let after = manifest_requests(&proxy);
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1));
    assert_eq!(proxy.seen_matching("GET", "/blobs/").len(), blobs);

    let target = Registry::start();
    let before = manifest_requests(&proxy);
    ok(&env.run(&["copy", &image, &format!("{}/demo/copy:1.0", target.host())]));
    let after = manifest_requests(&proxy);
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1));
}
