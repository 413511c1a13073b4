//! Referrers of referrers travel too: a signature of an SBOM (notation or cosign signing
//! the SBOM artifact, as `oras cp -r` copies it) reaches the target through replication,
//! `copy --referrers` and `push --referrers`, listed there under the SBOM, between real
//! distribution registries (the fallback tag schema).

use crate::support::cli::skopeo_ok;
use crate::support::registry::LogMark;
use crate::support::signing::{
    SBOM, SIGNATURE, Signed, cosign_sign, fallback_tag, listed, push_artifact, release,
    serve_referrers, sign_referrer,
};
use crate::support::{Registry, Scenario};

fn writes(reg: &Registry, mark: LogMark) -> usize {
    reg.requests_since(mark)
        .iter()
        .filter(|r| matches!(r.method.as_str(), "PUT" | "POST" | "PATCH" | "DELETE"))
        .count()
}

/// The digests skopeo reads in `repo`'s fallback index of `subject` at `reg`.
fn skopeo_listed(reg: &Registry, repo: &str, subject: &str) -> Vec<String> {
    let at = format!("docker://{}/{repo}:{}", reg.host(), fallback_tag(subject));
    let raw = skopeo_ok(&["inspect", "--raw", "--tls-verify=false", &at]);
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap().to_string())
        .collect()
}

/// Whether `dst` holds the SBOM of `s` and `nested` (its signature) in `repo`, the latter
/// listed in the SBOM's fallback index.
fn carried_nested(dst: &Registry, repo: &str, s: &Signed, nested: &str) -> bool {
    dst.manifest_digest(repo, &s.sbom).as_deref() == Some(s.sbom.as_str())
        && dst.manifest_digest(repo, nested).as_deref() == Some(nested)
        && listed(dst, repo, &fallback_tag(&s.sbom)) == [nested.to_string()]
}

/// Replication through a policy carries a signature of the amd64 SBOM to the target,
/// listed under the SBOM (skopeo reads the fallback index); `plan` counts it in text, JSON
/// and markdown; a second run pushes nothing; and when retention deletes the tag, the
/// ledger's record takes the nested signature with it.
#[test]
fn replication_carries_a_signature_of_an_sbom() {
    let sc = Scenario::new()
        .registry()
        .target()
        .release("1.0.0")
        .policy("version: 1\ndefaults: { platforms: [linux/amd64, linux/arm64/v8] }\nimages:\n  - name: {registry}/team/app\n    semver: \">=1\"\n    keep: 1\nreplicate:\n  - to: {target}/mirror\n");
    let (src, dst, file) = (sc.reg(), sc.dst(), sc.policy_arg());
    let s = sc.signed("1.0.0");
    let nested = sign_referrer(src, "team/app", &s.sbom, b"signature of the sbom");
    // The index's signature, the SBOM, the cosign tag and the SBOM's signature.
    let plan = sc.ok(&["plan", "-f", file]);
    assert!(
        plan.contains("Referrers: 4 to carry, 4 at the sources"),
        "{plan}"
    );
    assert!(plan.contains("(4 of 4 referrers to carry)"), "{plan}");
    let md = sc.ok(&["plan", "--format", "markdown", "-f", file]);
    assert!(md.contains("(4 of 4 referrers to carry)"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&sc.ok(&["plan", "--json", "-f", file])).unwrap();
    let carry = &json["replication"]["referrers"][0];
    assert_eq!(
        (carry["at_source"].as_u64(), carry["to_carry"].as_u64()),
        (Some(4), Some(4)),
        "{json:#}"
    );

    let out = sc.ok(&["apply", "--yes", "-f", file]);
    // The three referrers, the cosign tag and three fallback indexes (index, amd64, SBOM).
    assert!(
        out.contains("Referrers (signatures, attestations): 7 pushed"),
        "{out}"
    );
    assert!(carried_nested(dst, "mirror/team/app", s, &nested), "{out}");
    assert_eq!(
        skopeo_listed(dst, "mirror/team/app", &s.sbom),
        [nested.as_str()]
    );

    let (mark, src_mark) = (dst.mark(), src.mark());
    let out = sc.ok(&["apply", "--yes", "-f", file]);
    assert_eq!(writes(dst, mark), 0, "{out}");
    assert!(
        out.contains("Referrers: 0 to carry, 4 at the sources"),
        "{out}"
    );
    // Following costs the source one GET of the SBOM's fallback index and nothing for a
    // referrer without a fallback tag of its own (the index's signature).
    let gets =
        |d: &str| src.count_since(src_mark, "GET", &format!("/manifests/{}", fallback_tag(d)));
    assert_eq!(gets(&s.sbom), 1, "{:#?}", src.requests_since(src_mark));
    assert_eq!(gets(&s.signature), 0, "{:#?}", src.requests_since(src_mark));
    // The floor one level deep: the tag list, the tag's HEAD, the referrers query (404),
    // the fallback indexes of the index, amd64 and the SBOM, and the cosign tag's HEAD.
    let seen: Vec<_> = src
        .requests_since(src_mark)
        .into_iter()
        .filter(|r| r.path != "/v2/")
        .collect();
    assert_eq!(seen.len(), 1 + 1 + 1 + 3 + 1, "{seen:#?}");

    // 1.1.0 replaces 1.0.0 (keep: 1): its referrers go with its tag, the nested one too.
    release(src, "1.1.0");
    let out = sc.ok(&["apply", "--yes", "-f", file]);
    assert_eq!(
        dst.manifest_digest("mirror/team/app", "1.0.0"),
        None,
        "{out}"
    );
    assert_eq!(
        dst.manifest_digest("mirror/team/app", &s.sbom),
        None,
        "{out}"
    );
    assert_eq!(
        dst.manifest_digest("mirror/team/app", &nested),
        None,
        "{out}"
    );
}

/// A target keeping linux/amd64 only gets that platform's SBOM and the SBOM's signature,
/// listed under the SBOM, and `plan` counts the two.
#[test]
fn a_platform_target_carries_the_signature_of_its_platforms_sbom() {
    let sc = Scenario::new()
        .registry()
        .target()
        .release("1.0.0")
        .policy("version: 1\ndefaults: { platforms: [linux/amd64, linux/arm64/v8] }\nimages:\n  - name: {registry}/team/app\n    tags: [\"1.0.0\"]\nreplicate:\n  - to: {target}/mirror\n    platforms: [linux/amd64]\n");
    let (src, dst, file) = (sc.reg(), sc.dst(), sc.policy_arg());
    let s = sc.signed("1.0.0");
    let nested = sign_referrer(src, "team/app", &s.sbom, b"signature of the sbom");
    // Also a signature of the index's signature: the target holds no index, so not that.
    let of_index = sign_referrer(src, "team/app", &s.signature, b"countersignature");
    let plan = sc.ok(&["plan", "-f", file]);
    assert!(
        plan.contains("Referrers: 2 to carry, 2 at the sources"),
        "{plan}"
    );
    let out = sc.ok(&["apply", "--yes", "-f", file]);
    assert!(carried_nested(dst, "mirror/team/app", s, &nested), "{out}");
    assert_eq!(dst.manifest_digest("mirror/team/app", &of_index), None);
    assert_eq!(dst.manifest_digest("mirror/team/app", &s.signature), None);
}

/// `copy --referrers` carries the signature of the SBOM, listed under the SBOM, and a
/// cosign signature of the SBOM under its `.sig` tag; so does a copy of the amd64 manifest
/// alone (`--platform`), whose SBOM it is.
#[test]
fn copy_carries_a_signature_of_an_sbom() {
    let sc = Scenario::new().registry().target().release("1.0.0");
    let (src, dst) = (sc.reg(), sc.dst());
    let s = sc.signed("1.0.0");
    let nested = sign_referrer(src, "team/app", &s.sbom, b"signature of the sbom");
    let cosigned = cosign_sign(src, "team/app", &s.sbom, "MEUCsbom");
    let cosign_tag = format!("{}.sig", fallback_tag(&s.sbom));
    let both = |repo: &str| {
        carried_nested(dst, repo, s, &nested)
            && dst.manifest_digest(repo, &cosign_tag).as_ref() == Some(&cosigned)
    };
    let source = sc.reference("team/app:1.0.0");
    let out = sc.ok(&[
        "copy",
        "--referrers",
        &source,
        &format!("{}/copied/app:1.0.0", dst.host()),
    ]);
    assert!(both("copied/app"), "{out}");
    let out = sc.ok(&[
        "copy",
        "--referrers",
        "--platform",
        "linux/amd64",
        &source,
        &format!("{}/amd64/app:1.0.0", dst.host()),
    ]);
    assert!(both("amd64/app"), "{out}");
}

/// `push --referrers` of a pulled image (a store that keeps none of its referrers) copies
/// them from the registry its name points at, the signature of the SBOM too.
#[test]
fn push_from_the_registry_carries_a_signature_of_an_sbom() {
    let sc = Scenario::new().registry().target().release("1.0.0");
    let (src, dst) = (sc.reg(), sc.dst());
    let s = sc.signed("1.0.0");
    let nested = sign_referrer(src, "team/app", &s.sbom, b"signature of the sbom");
    let image = sc.reference("team/app:1.0.0");
    sc.ok(&["pull", "--all-platforms", &image]);
    let out = sc.ok(&[
        "push",
        "--referrers",
        &image,
        &format!("{}/pushed/app:1.0.0", dst.host()),
    ]);
    assert!(carried_nested(dst, "pushed/app", s, &nested), "{out}");
}

/// From a source with the referrers API (a proxy answering what distribution 2.8 cannot),
/// the signature of an SBOM is found by one more referrers query (the SBOM's) and carried:
/// listed in the SBOM's fallback index at a target without the API, and by the API itself
/// (no fallback tag written) at a target with it.
#[test]
fn with_the_referrers_api_a_signature_of_an_sbom_is_found_through_it() {
    use crate::support::faults::FaultProxy;
    use crate::support::fixtures::{MediaFormat, multi_platform};

    let index = multi_platform("api", MediaFormat::Oci);
    let sc = Scenario::new()
        .registry()
        .target()
        .index("team/app:1.0.0", &index);
    let (src, dst) = (sc.reg(), sc.dst());
    let arm = index.image("linux/arm64/v8");
    let (sbom, sbom_desc) = push_artifact(src, "team/app", arm.subject(), SBOM, b"arm64 sbom");
    let (media_type, bytes) = src.get_manifest("team/app", &sbom);
    let (nested, nested_desc) = push_artifact(
        src,
        "team/app",
        (&sbom, &media_type, bytes.len() as u64),
        SIGNATURE,
        b"signature of the sbom",
    );
    let lists = [
        (arm.manifest_digest.as_str(), vec![sbom_desc]),
        (sbom.as_str(), vec![nested_desc]),
    ];
    let source = FaultProxy::start(&src.host());
    serve_referrers(&source, &lists);
    let from = format!("{}/team/app:1.0.0", source.host());

    sc.ok(&["copy", "--referrers", &from, &dst.reference("m/app:1.0.0")]);
    let asked = |d: &str| {
        source
            .seen_matching("GET", "/referrers/")
            .iter()
            .filter(|s| s.path.ends_with(d))
            .count()
    };
    assert_eq!((asked(&sbom), asked(&nested)), (1, 1));
    assert_eq!(dst.manifest_digest("m/app", &nested), Some(nested.clone()));
    assert_eq!(
        listed(dst, "m/app", &fallback_tag(&sbom)),
        [nested.as_str()]
    );

    let dst2 = Registry::start();
    let target = FaultProxy::start(&dst2.host());
    serve_referrers(&target, &lists);
    sc.ok(&[
        "copy",
        "--referrers",
        &from,
        &format!("{}/m/app:1.0.0", target.host()),
    ]);
    assert_eq!(dst2.manifest_digest("m/app", &nested), Some(nested.clone()));
    assert_eq!(dst2.tags("m/app"), ["1.0.0"]);
}

/// An SBOM its registry still lists but has deleted is not carried, and neither is the
/// signature hanging from it: the target gets no listing under a subject it lacks, and
/// the rest of the image's referrers arrive.
#[test]
fn a_gone_referrer_takes_its_own_referrers_with_it() {
    let sc = Scenario::new().registry().target().release("1.0.0");
    let (src, dst) = (sc.reg(), sc.dst());
    let s = sc.signed("1.0.0");
    let nested = sign_referrer(src, "team/app", &s.sbom, b"signature of the sbom");
    skopeo_ok(&[
        "delete",
        "--tls-verify=false",
        &format!("docker://{}/team/app@{}", src.host(), s.sbom),
    ]);
    let out = sc.ok(&[
        "copy",
        "--referrers",
        &sc.reference("team/app:1.0.0"),
        &format!("{}/copied/app:1.0.0", dst.host()),
    ]);
    assert!(out.contains("is gone there"), "{out}");
    assert_eq!(dst.manifest_digest("copied/app", &s.sbom), None);
    assert_eq!(dst.manifest_digest("copied/app", &nested), None);
    assert_eq!(
        dst.manifest_digest("copied/app", &fallback_tag(&s.sbom)),
        None
    );
    assert_eq!(
        dst.manifest_digest("copied/app", &s.signature).as_deref(),
        Some(s.signature.as_str())
    );
}
