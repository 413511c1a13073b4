//! The referrers API's pages (`Link: <…>; rel="next"`), which distribution 2.8 cannot
//! serve: a hand-made proxy answers the referrers requests in front of a real registry.

use crate::support::cli::succeeded as ok;
use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::fixtures::{MediaFormat, multi_platform, push_index_http};
use crate::support::signing::{push_artifact, referrers_index};
use crate::support::{Registry, TestEnv};

const SIGNATURE: &str = "application/vnd.example.signature.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn link(next: &str) -> Vec<(String, String)> {
    vec![("Link".into(), format!("<{next}>; rel=\"next\""))]
}

/// A referrers list split over three pages is followed to its end: every referrer on
/// every page reaches the target, each page asked once.
#[test]
fn referrers_pages_are_followed() {
    let src = Registry::start();
    let dst = Registry::start();
    let index = multi_platform("paged", MediaFormat::Oci);
    push_index_http(&src, "team/app", "1.0.0", &index);
    let sigs: Vec<(String, serde_json::Value)> = (0..3)
        .map(|i| {
            push_artifact(
                &src,
                "team/app",
                index.subject(),
                SIGNATURE,
                format!("signature {i}").as_bytes(),
            )
        })
        .collect();
    let proxy = FaultProxy::start(&src.host());
    let first = format!("/v2/team/app/referrers/{}", index.digest);
    // The most specific path first: a rule matches when its text is in the path.
    let pages = [
        (format!("{first}?page=3"), None),
        (format!("{first}?page=2"), Some(format!("{first}?page=3"))),
        (first.clone(), Some("?page=2".to_string())),
    ];
    for (i, (path, next)) in pages.iter().enumerate() {
        let body = referrers_index(&[sigs[2 - i].1.clone()]);
        proxy.add(Rule::new(
            "GET",
            path,
            Fault::ServeWith(
                200,
                INDEX.into(),
                body,
                next.as_deref().map(link).unwrap_or_default(),
            ),
        ));
    }
    proxy.add(Rule::new(
        "GET",
        "/referrers/",
        Fault::Serve(200, INDEX.into(), referrers_index(&[])),
    ));
    let env = TestEnv::new();
    let out = ok(&env.run(&[
        "copy",
        "--referrers",
        &format!("{}/team/app:1.0.0", proxy.host()),
        &format!("{}/m/app:1.0.0", dst.host()),
    ]));
    for (sig, _) in &sigs {
        assert_eq!(
            dst.manifest_digest("m/app", sig).as_ref(),
            Some(sig),
            "{out}"
        );
    }
    let asked: Vec<String> = proxy
        .seen_matching("GET", &first)
        .into_iter()
        .map(|s| s.path)
        .collect();
    assert_eq!(
        asked,
        [
            first.clone(),
            format!("{first}?page=2"),
            format!("{first}?page=3")
        ]
    );
}

/// A registry whose referrers pages never end (each links to a new one) is asked a bounded
/// number of pages, and the copy of its referrers fails saying so.
#[test]
fn endless_referrers_pages_are_bounded() {
    let src = Registry::start();
    let dst = Registry::start();
    let index = multi_platform("endless", MediaFormat::Oci);
    push_index_http(&src, "team/app", "1.0.0", &index);
    let proxy = FaultProxy::start(&src.host());
    // Relative to `…/referrers/<digest>`, `x/more` names a longer path every time.
    proxy.add(Rule::new(
        "GET",
        "/referrers/",
        Fault::ServeWith(200, INDEX.into(), referrers_index(&[]), link("x/more")),
    ));
    let env = TestEnv::new();
    let out = env.run(&[
        "copy",
        "--referrers",
        &format!("{}/team/app:1.0.0", proxy.host()),
        &format!("{}/m/app:1.0.0", dst.host()),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("more than 64 pages of manifests"),
        "{stderr}"
    );
    assert_eq!(proxy.seen_matching("GET", "/referrers/").len(), 64);
}
