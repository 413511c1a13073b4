//! Bearer-token authentication against a real registry (`auth: token:`) with a hand-made
//! token server: one token per repository scope, a refused or expired token fetched again,
//! wrong credentials refused in one line, and no token or password in any log.

use std::process::Output;
use std::time::Duration;

use crate::support::TestEnv;
use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::fixtures::{ImageBuilder, Layer, OciLayout};
use crate::support::http::base64_encode;
use crate::support::output::text;
use crate::support::registry::Registry;
use crate::support::token::{SERVICE, TokenServer};

const USER: &str = "alice";
const PASSWORD: &str = "Tok-pw-5e8c-secret";

/// A token-auth registry holding `demo/app:1.0` and `demo/other:1.0` (pushed by skopeo,
/// which goes through the token server too).
fn setup() -> (TokenServer, Registry) {
    let ts = TokenServer::start(USER, PASSWORD);
    let reg = Registry::builder().extra_yaml(&ts.registry_yaml()).start();
    for (repo, seed) in [("demo/app", 1), ("demo/other", 2)] {
        let image = ImageBuilder::new()
            .layer(Layer::random("a.bin", 2000, seed))
            .layer(Layer::random("b.bin", 3000, seed + 10))
            .build();
        let dir = tempfile::tempdir().unwrap();
        OciLayout::create(dir.path()).add_image(&image, "image");
        let out = crate::support::tools::tool("skopeo")
            .args([
                "--insecure-policy",
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
            ])
            .arg(format!("--dest-creds={USER}:{PASSWORD}"))
            .arg(format!("oci:{}:image", dir.path().display()))
            .arg(format!("docker://{}/{repo}:1.0", reg.host()))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo push: {}", text(&out));
    }
    (ts, reg)
}

/// No password, base64 `user:pass` or issued token in the output; tracing was on.
fn assert_no_secrets(what: &str, out: &Output, tokens: &[String]) {
    let all = text(out);
    assert!(!all.contains(PASSWORD), "{what}: password leaked:\n{all}");
    let basic = base64_encode(format!("{USER}:{PASSWORD}").as_bytes());
    assert!(!all.contains(&basic), "{what}: credentials leaked:\n{all}");
    for t in tokens {
        // The signature alone identifies a token.
        let sig = t.rsplit('.').next().unwrap();
        assert!(!all.contains(sig), "{what}: a bearer token leaked:\n{all}");
    }
    assert!(
        all.contains("DEBUG") && all.contains("/v2/"),
        "{what}: {all}"
    );
}

fn traced_pull(env: &TestEnv, refs: &[String]) -> Output {
    env.imagectl()
        .env("RUST_LOG", "trace")
        .args(["-vv", "pull"])
        .args(refs)
        .output()
        .unwrap()
}

/// Logged in to the proxy's address, pull `demo/app:1.0` through it one blob at a time
/// (so the proxy's faults hit a known request); asserts the pull succeeded.
fn pull_one_blob_at_a_time(proxy: &FaultProxy) -> TestEnv {
    let env = TestEnv::new();
    env.docker_login(&proxy.host(), USER, PASSWORD);
    let out = env.run(&[
        "pull",
        "--concurrency",
        "1",
        &format!("{}/demo/app:1.0", proxy.host()),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    env
}

/// Pulling two repositories fetches exactly one token per repository scope (cached for
/// every blob of it), with the credentials from config.json; no token shows in the logs.
#[test]
fn one_token_per_scope_and_none_in_logs() {
    let (ts, reg) = setup();
    let before = ts.requests().len();
    let env = TestEnv::new();
    env.docker_login(&reg.host(), USER, PASSWORD);
    let refs = [
        reg.reference("demo/app:1.0"),
        reg.reference("demo/other:1.0"),
    ];
    let out = traced_pull(&env, &refs);
    assert!(out.status.success(), "{}", text(&out));
    let ours = &ts.requests()[before..];
    let mut scopes: Vec<Vec<String>> = ours.iter().map(|r| r.scopes.clone()).collect();
    scopes.sort();
    assert_eq!(
        scopes,
        vec![
            vec!["repository:demo/app:pull".to_string()],
            vec!["repository:demo/other:pull".to_string()]
        ]
    );
    assert!(
        ours.iter()
            .all(|r| r.status == 200 && r.user.as_deref() == Some(USER))
    );
    assert_no_secrets("pull", &out, &ts.tokens());
    env.imagectl().arg("fsck").assert().success();
}

/// A registry that refuses a cached token (as when it expired early) gets a fresh one:
/// the token is dropped from the cache, fetched again, and the pull completes.
#[test]
fn refused_token_is_fetched_again() {
    let (ts, reg) = setup();
    let proxy = FaultProxy::start(&reg.host());
    let realm = ts.registry_yaml();
    let realm = realm
        .lines()
        .find_map(|l| l.trim().strip_prefix("realm: "))
        .unwrap()
        .to_string();
    let challenge = format!(
        "Bearer realm=\"{realm}\",service=\"{SERVICE}\",scope=\"repository:demo/app:pull\",error=\"invalid_token\""
    );
    // The manifest GET gets a token; the first blob GET, sent with it, is refused.
    proxy.add(
        Rule::new(
            "GET",
            "/blobs/",
            Fault::Answer(401, vec![("WWW-Authenticate".into(), challenge)]),
        )
        .times(1),
    );
    let before = ts.requests().len();
    let env = pull_one_blob_at_a_time(&proxy);
    let ours = &ts.requests()[before..];
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert!(
        ours.iter()
            .all(|r| r.scopes == ["repository:demo/app:pull"])
    );
    assert_ne!(ours[0].token, ours[1].token);
    // The refused request was sent again (with the new token).
    let blob_gets = proxy.seen_matching("GET", "/blobs/");
    assert_eq!(blob_gets[0].path, blob_gets[1].path);
    env.imagectl().arg("fsck").assert().success();
}

/// Tokens that really expire during a pull: the registry refuses the stale one, a fresh
/// one is fetched, and the pull completes. (The registry, not a proxy, does the refusing.)
#[test]
fn token_expiring_mid_pull_is_renewed() {
    let (ts, reg) = setup();
    ts.set_lifetime(2);
    let proxy = FaultProxy::start(&reg.host());
    // The first blob stalls past the token's lifetime; the next request carries a token
    // the registry now holds expired.
    proxy.add(Rule::new("GET", "/blobs/", Fault::Stall(100, Duration::from_secs(4))).times(1));
    let before = ts.requests().len();
    let env = pull_one_blob_at_a_time(&proxy);
    let ours = &ts.requests()[before..];
    assert!(ours.len() >= 2, "{ours:?}");
    assert!(
        ours.iter()
            .all(|r| r.status == 200 && r.scopes == ["repository:demo/app:pull"])
    );
    // Our tokens are kept at least 60 s, so a second one means the registry refused the
    // first: that request went out again (config and two layers, one of them more than once).
    let blob_gets = proxy.seen_matching("GET", "/blobs/");
    let distinct: std::collections::BTreeSet<&str> =
        blob_gets.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(distinct.len(), 3, "{blob_gets:?}");
    assert!(
        blob_gets.len() > 3,
        "no blob request was refused: {blob_gets:?}"
    );
    env.imagectl().arg("fsck").assert().success();
}

/// A wrong password is refused by the token server: one error line saying what to do,
/// and neither password in any log.
#[test]
fn wrong_password_for_token_server() {
    let (ts, reg) = setup();
    let env = TestEnv::new();
    env.docker_login(&reg.host(), USER, "Wrong-tok-pw-1a2b");
    let out = traced_pull(&env, &[reg.reference("demo/app:1.0")]);
    let line = crate::errors::error_line(&out);
    assert!(line.contains("rejected the credentials"), "{line}");
    assert!(!text(&out).contains("Wrong-tok-pw-1a2b"));
    assert_no_secrets("wrong password", &out, &ts.tokens());
    assert_eq!(ts.requests().last().unwrap().status, 401);
}
