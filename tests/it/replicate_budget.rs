//! What a replication run that has nothing to do costs, counted in the real registries'
//! access logs (and, for the referrers API distribution 2.8 lacks, the hand-made proxy's
//! record): per target one manifest HEAD per tag and one ledger read; per source the
//! floor that still sees a new or re-pushed signature, or a new signature of a signature.

use crate::support::fixtures::{MediaFormat, app_image};
use crate::support::registry::{LogMark, Request};
use crate::support::signing::{SIGNATURE, cosign_sign};
use crate::support::{Registry, Scenario};

/// imagectl's own requests after `mark`, but its `/v2/` auth probe.
fn by_imagectl(reg: &Registry, mark: LogMark) -> Vec<Request> {
    reg.requests_since(mark)
        .into_iter()
        .filter(|r| r.user_agent.starts_with("imagectl/") && r.path != "/v2/")
        .collect()
}

fn count(seen: &[Request], method: &str, pred: &dyn Fn(&str) -> bool) -> usize {
    seen.iter()
        .filter(|r| r.method == method && pred(&r.path))
        .count()
}

/// A no-op replication of signed images to two targets costs each target one HEAD per
/// tag and one ledger read (its manifest and blob), and the fallback-schema source one
/// tag list per repository (shared with the selector's), one HEAD per tag, one referrers
/// query for the registry, and one request per referrer tag: the least that still sees a
/// re-pushed cosign signature, which the next run carries. Following referrers of
/// referrers costs nothing here: no referrer has a fallback tag of its own.
#[test]
fn a_no_op_replication_costs_its_floor() {
    let second = Registry::start();
    let base = app_image("base", MediaFormat::Oci);
    let sc = Scenario::new()
        .registry()
        .target()
        .releases_signed(&["1.0.0", "1.1.0"])
        // A repository named by a fixed tag: the expansion lists no tags there, the
        // referrers lookup does; its one signature is a cosign tag.
        .image("team/base:1.0", &base)
        .policy(&format!(
            "version: 1\ndefaults: {{ platforms: [linux/amd64, linux/arm64/v8] }}\nimages:\n  - name: {{registry}}/team/app\n    semver: \">=1\"\n  - name: {{registry}}/team/base\n    tags: [\"1.0\"]\n    platforms: [linux/amd64]\nreplicate:\n  - to: {{target}}/mirror\n  - to: {}/mirror\n",
            second.host()
        ));
    let (src, file) = (sc.reg(), sc.policy_arg());
    cosign_sign(src, "team/base", &base.manifest_digest, "MEUCbase");
    let targets = [sc.dst(), &second];
    let apply = || sc.ok(&["apply", "--yes", "-f", file]);
    let out = apply();
    // Per target and release: the signature, the SBOM, their two fallback indexes and the
    // cosign tag; and base's cosign tag.
    assert!(
        out.contains("Referrers (signatures, attestations): 22 pushed"),
        "{out}"
    );

    let marks: Vec<LogMark> = targets.iter().map(|r| r.mark()).collect();
    let src_mark = src.mark();
    let out = apply();
    assert!(
        out.contains("Replication: 0 to push, 0 to delete, 6 up to date."),
        "{out}"
    );
    assert!(
        out.contains("Referrers: 0 to carry, 14 at the sources"),
        "{out}"
    );
    for (reg, mark) in targets.iter().zip(&marks) {
        let seen = by_imagectl(reg, *mark);
        let ledger = |p: &str| p.starts_with("/v2/mirror/imagectl-ledger/");
        assert_eq!(count(&seen, "HEAD", &|p| !ledger(p)), 3, "{seen:#?}");
        assert_eq!(
            count(&seen, "GET", &|p| ledger(p) && p.contains("/manifests/")),
            1
        );
        assert_eq!(
            count(&seen, "GET", &|p| ledger(p) && p.contains("/blobs/")),
            1
        );
        assert_eq!(seen.len(), 5, "{seen:#?}");
    }
    let seen = by_imagectl(src, src_mark);
    // One tag list per repository: team/app's serves the selector and the referrers.
    assert_eq!(
        count(&seen, "GET", &|p| p.ends_with("/tags/list")),
        2,
        "{seen:#?}"
    );
    // One HEAD per wanted tag (the expansion's).
    let tags = ["/manifests/1.0.0", "/manifests/1.1.0", "/manifests/1.0"];
    assert_eq!(
        count(&seen, "HEAD", &|p| tags.iter().any(|t| p.ends_with(t))),
        3
    );
    // One referrers query: the 404 says the registry has no API; it is not asked again.
    assert_eq!(count(&seen, "GET", &|p| p.contains("/referrers/")), 1);
    // Per release, its two fallback indexes (of the index and of amd64); none for base.
    assert_eq!(
        count(&seen, "GET", &|p| p.contains("/manifests/sha256-")),
        4
    );
    // One HEAD per cosign tag (the two releases', base's).
    assert_eq!(count(&seen, "HEAD", &|p| p.ends_with(".sig")), 3);
    // Nothing else: indexes come from the store, no manifest is fetched by digest.
    assert_eq!(seen.len(), 2 + 3 + 1 + 4 + 3, "{seen:#?}");

    // cosign signs 1.1.0 again: the same `.sig` tag, a new digest. The plan sees it, the
    // next run carries it to both targets.
    let released = sc.signed("1.1.0");
    let resigned = cosign_sign(src, "team/app", &released.index.digest, "MEUCagain");
    assert_ne!(resigned, released.cosign.1);
    let plan = sc.ok(&["plan", "--json", "-f", file]);
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let carries = plan["replication"]["referrers"].as_array().unwrap();
    let changed: Vec<(String, u64, u64)> = carries
        .iter()
        .filter(|c| c["to_carry"].as_u64() != Some(0))
        .map(|c| {
            (
                c["source"].as_str().unwrap().to_string(),
                c["at_source"].as_u64().unwrap(),
                c["to_carry"].as_u64().unwrap(),
            )
        })
        .collect();
    let source = format!("{}/team/app:1.1.0", src.host());
    assert_eq!(
        changed,
        [(source.clone(), 3, 1), (source, 3, 1)],
        "{plan:#}"
    );
    apply();
    for reg in targets {
        assert_eq!(
            reg.manifest_digest("mirror/team/app", &released.cosign.0),
            Some(resigned.clone())
        );
    }
}

/// With the referrers API at the source (a proxy answering what distribution 2.8 cannot),
/// a no-op run asks one referrers query per manifest of each image (its index and each
/// platform's) and one per referrer found (for its own referrers), and reads no fallback
/// tag.
#[test]
fn with_the_referrers_api_a_no_op_asks_once_per_manifest() {
    use crate::support::faults::FaultProxy;
    use crate::support::fixtures::{multi_platform, push_index_http};
    use crate::support::signing::{push_artifact, serve_referrers};

    let sc = Scenario::new().registry().target();
    let (src, dst) = (sc.reg(), sc.dst());
    let proxy = FaultProxy::start(&src.host());
    let mut signed = Vec::new();
    for v in ["1.0.0", "1.1.0"] {
        let index = multi_platform(v, MediaFormat::Oci);
        push_index_http(src, "team/app", v, &index);
        let (_, sig) = push_artifact(
            src,
            "team/app",
            index.subject(),
            SIGNATURE,
            format!("signature of {v}").as_bytes(),
        );
        signed.push((index.digest, vec![sig]));
    }
    let lists: Vec<_> = signed
        .iter()
        .map(|(d, s)| (d.as_str(), s.clone()))
        .collect();
    serve_referrers(&proxy, &lists);
    let path = sc.env().write_policy(&format!(
            "version: 1\ndefaults: {{ platforms: [linux/amd64, linux/arm64/v8] }}\nimages:\n  - name: {}/team/app\n    semver: \">=1\"\nreplicate:\n  - to: {}/mirror\n",
            proxy.host(),
            dst.host()
        ));
    let file = path.to_str().unwrap();
    let apply = || sc.ok(&["apply", "--yes", "-f", file]);
    let out = apply();
    assert!(
        out.contains("Referrers (signatures, attestations): 4 pushed"),
        "{out}"
    );
    let before = proxy.seen().len();
    let mark = dst.mark();
    let out = apply();
    assert!(
        out.contains("Referrers: 0 to carry, 2 at the sources"),
        "{out}"
    );
    let seen: Vec<_> = proxy.seen().into_iter().skip(before).collect();
    let paths = |method: &str, pred: &dyn Fn(&str) -> bool| {
        seen.iter()
            .filter(|s| s.method == method && pred(&s.path))
            .count()
    };
    // Per image: its index, its two platform manifests and its signature.
    assert_eq!(
        paths("GET", &|p| p.contains("/referrers/")),
        2 * (3 + 1),
        "{seen:#?}"
    );
    assert_eq!(paths("GET", &|p| p.ends_with("/tags/list")), 1);
    assert_eq!(paths("HEAD", &|p| p.contains("/manifests/1.")), 2);
    assert_eq!(
        seen.iter().filter(|s| s.path != "/v2/").count(),
        8 + 1 + 2,
        "{seen:#?}"
    );
    let at_target = by_imagectl(dst, mark);
    assert_eq!(at_target.len(), 2 + 2, "{at_target:#?}");
}

/// `run --no-referrers` (like `apply --no-referrers`) replicates images without their
/// signatures and looks none up: no referrers query and no tag list at the source;
/// `plan --no-referrers` counts none where `plan` (text and markdown) counts them.
#[test]
fn run_without_referrers_looks_up_and_carries_none() {
    let sc = Scenario::new()
        .registry()
        .target()
        .release("1.0.0")
        .policy("version: 1\ndefaults: { platforms: [linux/amd64, linux/arm64/v8] }\nimages:\n  - name: {registry}/team/app\n    tags: [\"1.0.0\"]\nreplicate:\n  - to: {target}/mirror\n");
    let (src, dst, r, file) = (sc.reg(), sc.dst(), sc.signed("1.0.0"), sc.policy_arg());
    let plan = sc.ok(&["plan", "--no-referrers", "-f", file]);
    assert!(!plan.contains("Referrers:"), "{plan}");
    let plan = sc.ok(&["plan", "-f", file]);
    assert!(
        plan.contains("Referrers: 3 to carry, 3 at the sources"),
        "{plan}"
    );
    let comment = sc.ok(&["plan", "--format", "markdown", "-f", file]);
    assert!(
        comment.contains("\nReferrers: 3 to carry, 3 at the sources"),
        "{comment}"
    );
    assert!(comment.contains("> refer"), "{comment}");
    let mark = src.mark();
    sc.ok(&["run", "--once", "--no-referrers", "-f", file]);
    assert_eq!(
        dst.manifest_digest("mirror/team/app", "1.0.0").as_ref(),
        Some(&r.index.digest)
    );
    assert_eq!(dst.tags("mirror/team/app"), ["1.0.0"]);
    let seen = by_imagectl(src, mark);
    assert_eq!(
        count(&seen, "GET", &|p| p.contains("/referrers/")),
        0,
        "{seen:#?}"
    );
    assert_eq!(
        count(&seen, "GET", &|p| p.ends_with("/tags/list")),
        0,
        "{seen:#?}"
    );
}
