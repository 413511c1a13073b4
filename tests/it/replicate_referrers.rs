//! Signatures and attestations travel with images (`replicate:` and `copy --referrers`)
//! between real distribution registries, which have no referrers API: the fallback tag
//! schema and cosign's `.sig` tags are what moves.

use crate::support::fixtures::{FixtureIndex, MediaFormat, multi_platform};
use crate::support::signing::{
    SBOM, SIGNATURE, Signed, attach_artifact, fallback_tag, listed, release,
};
use crate::support::{Registry, Scenario};

/// Whether `dst` holds every referrer of `s` in `repo` with the source's digests.
fn carried(dst: &Registry, repo: &str, s: &Signed) -> bool {
    dst.manifest_digest(repo, &s.signature).as_ref() == Some(&s.signature)
        && dst.manifest_digest(repo, &s.sbom).as_ref() == Some(&s.sbom)
        && dst.manifest_digest(repo, &s.cosign.0).as_ref() == Some(&s.cosign.1)
        && dst
            .manifest_digest(repo, &fallback_tag(&s.index.digest))
            .is_some()
        && listed(dst, repo, &fallback_tag(&s.index.digest)) == [s.signature.clone()]
        && listed(
            dst,
            repo,
            &fallback_tag(&s.index.image("linux/amd64").manifest_digest),
        ) == [s.sbom.clone()]
}

fn writes(reg: &Registry, mark: crate::support::registry::LogMark) -> usize {
    reg.requests_since(mark)
        .iter()
        .filter(|r| matches!(r.method.as_str(), "PUT" | "POST" | "PATCH" | "DELETE"))
        .count()
}

/// A replicated signed image carries every referrer to the target, digests preserved; a
/// second run uploads nothing; a new signature of an old image follows; a tag removed by
/// retention takes its referrers with it, and only its own.
#[test]
fn signed_images_replicate_with_their_referrers() {
    let sc = Scenario::new()
        .registry()
        .target()
        .releases_signed(&["1.0.0", "1.1.0"])
        .policy("version: 1\ndefaults: { platforms: [linux/amd64, linux/arm64/v8] }\nimages:\n  - name: {registry}/team/app\n    semver: \">=1\"\n    keep: 2\nreplicate:\n  - to: {target}/mirror\n");
    let (src, dst, file) = (sc.reg(), sc.dst(), sc.policy_arg());
    let (r1, r2) = (sc.signed("1.0.0"), sc.signed("1.1.0"));
    let apply = || sc.ok(&["apply", "--yes", "-f", file]);
    let plan = sc.ok(&["plan", "-f", file]);
    // Per release: the index's signature, the amd64 SBOM and the cosign tag.
    assert!(
        plan.contains("Referrers: 6 to carry, 6 at the sources for 2 replicated images"),
        "{plan}"
    );
    let out = apply();
    assert!(out.contains("Replicated: 2 pushed"), "{out}");
    // Per release: the index's signature and fallback index, the SBOM and its fallback
    // index, the cosign tag.
    assert!(
        out.contains("Referrers (signatures, attestations): 10 pushed, 0 deleted."),
        "{out}"
    );
    for r in [r1, r2] {
        assert!(carried(dst, "mirror/team/app", r), "{out}");
    }

    // Nothing new: the target sees one HEAD per tag and the ledger read, nothing written.
    let mark = dst.mark();
    let src_mark = src.mark();
    let out = apply();
    assert_eq!(writes(dst, mark), 0, "{out}");
    let seen = dst.requests_since(mark);
    assert!(
        seen.iter().all(|r| r.method == "HEAD"
            || r.path == "/v2/"
            || r.path.starts_with("/v2/mirror/imagectl-ledger/")),
        "{seen:#?}"
    );
    assert_eq!(seen.iter().filter(|r| r.method == "HEAD").count(), 2);
    // At the source: the expansion's tag list (the referrers' too) and HEADs, then one
    // referrers query (404: no API, not asked again), and per image one GET of each
    // fallback index (index and amd64) and one HEAD of its cosign tag; the index itself is
    // read from the store.
    let at_source = src.requests_since(src_mark);
    let count = |method: &str, pred: &dyn Fn(&str) -> bool| {
        at_source
            .iter()
            .filter(|r| r.method == method && pred(&r.path))
            .count()
    };
    assert_eq!(
        count("GET", &|p| p.ends_with("/tags/list")),
        1,
        "{at_source:#?}"
    );
    assert_eq!(count("GET", &|p| p.contains("/referrers/")), 1);
    assert_eq!(count("GET", &|p| p.contains("/manifests/sha256-")), 4);
    assert_eq!(count("GET", &|p| p.contains("/manifests/sha256:")), 0);
    assert_eq!(count("HEAD", &|p| p.ends_with(".sig")), 2);
    assert_eq!(at_source.iter().filter(|r| r.path != "/v2/").count(), 10);

    // A new signature of an old image reaches the target.
    let late = attach_artifact(
        src,
        "team/app",
        r2.index.subject(),
        SIGNATURE,
        b"second signature of 1.1.0",
    );
    apply();
    assert_eq!(
        dst.manifest_digest("mirror/team/app", &late).as_ref(),
        Some(&late)
    );
    let mut both = vec![r2.signature.clone(), late.clone()];
    both.sort();
    assert_eq!(
        listed(dst, "mirror/team/app", &fallback_tag(&r2.index.digest)),
        both
    );

    // Retention drops 1.0.0: its referrers leave the target, 1.1.0's stay.
    let r3 = release(src, "1.2.0");
    let out = apply();
    assert!(out.contains("1 deleted"), "{out}");
    assert!(
        out.contains("Referrers (signatures, attestations): 5 pushed, 5 deleted."),
        "{out}"
    );
    assert!(carried(dst, "mirror/team/app", &r3), "{out}");
    assert!(
        dst.manifest_digest("mirror/team/app", &r2.signature)
            .is_some()
    );
    for gone in [
        &r1.signature,
        &r1.sbom,
        &r1.cosign.0,
        &fallback_tag(&r1.index.digest),
    ] {
        assert_eq!(dst.manifest_digest("mirror/team/app", gone), None, "{gone}");
    }
    let mut tags = dst.tags("mirror/team/app");
    tags.retain(|t| t.starts_with("sha256-"));
    assert_eq!(tags.len(), 2 * 3, "{tags:?}");
}

/// `copy --referrers` carries an image's referrers (for one platform: that manifest's), a
/// plain `copy` carries none, and `tags` shows their tags only when asked.
#[test]
fn copy_carries_referrers_on_request() {
    let sc = Scenario::new().registry().target().release("1.0.0");
    let (dst, r) = (sc.dst(), sc.signed("1.0.0"));
    let from = sc.reference("team/app:1.0.0");
    sc.ok(&["copy", &from, &dst.reference("plain/app:1.0.0")]);
    assert_eq!(dst.tags("plain/app"), ["1.0.0"]);
    let out = sc.ok(&[
        "copy",
        "--referrers",
        &from,
        &dst.reference("signed/app:1.0.0"),
    ]);
    assert!(carried(dst, "signed/app", r), "{out}");
    // `tags` lists images; `tags --all` the referrer tags too.
    let repo = dst.reference("signed/app");
    let out = sc.ok(&["tags", &repo]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["1.0.0"]);
    let out = sc.ok(&["tags", "--all", &repo]);
    assert_eq!(out.lines().count(), 4, "{out}");

    // One platform: its manifest's referrers (the SBOM), not the index's it is not under.
    sc.ok(&[
        "copy",
        "--referrers",
        "--platform",
        "linux/amd64",
        &from,
        &dst.reference("amd64/app:1.0.0"),
    ]);
    let amd64 = r.index.image("linux/amd64");
    assert_eq!(
        dst.manifest_digest("amd64/app", "1.0.0").as_ref(),
        Some(&amd64.manifest_digest)
    );
    assert_eq!(
        listed(dst, "amd64/app", &fallback_tag(&amd64.manifest_digest)),
        [r.sbom.as_str()]
    );
    assert_eq!(dst.manifest_digest("amd64/app", &r.signature), None);
}

/// From a source with the referrers API (a real registry behind a proxy that answers the
/// API's requests, which distribution 2.8 cannot) referrers are found through it, with no
/// fallback tag at the source; a target without the API gets the fallback index, and a
/// target with it gets none.
#[test]
fn referrers_api_at_the_source_and_the_target() {
    use crate::support::faults::FaultProxy;
    use crate::support::signing::{push_artifact, serve_referrers};

    let index = multi_platform("api", MediaFormat::Oci);
    let sc = Scenario::new()
        .registry()
        .target()
        .index("team/app:1.0.0", &index);
    let (src, dst) = (sc.reg(), sc.dst());
    let (sig, sig_desc) = push_artifact(
        src,
        "team/app",
        index.subject(),
        SIGNATURE,
        b"signature via the API",
    );
    let arm = index.image("linux/arm64/v8");
    let (att, att_desc) = push_artifact(
        src,
        "team/app",
        arm.subject(),
        SBOM,
        b"attestation of arm64 via the API",
    );
    let source = FaultProxy::start(&src.host());
    serve_referrers(
        &source,
        &[
            (index.digest.as_str(), vec![sig_desc.clone()]),
            (arm.manifest_digest.as_str(), vec![att_desc.clone()]),
        ],
    );
    assert!(
        src.tags("team/app")
            .iter()
            .all(|t| !t.starts_with("sha256-"))
    );

    // A target without the API: the artifacts, and fallback indexes listing them.
    let from = format!("{}/team/app:1.0.0", source.host());
    sc.ok(&["copy", "--referrers", &from, &dst.reference("m/app:1.0.0")]);
    assert!(
        source
            .seen_matching("GET", "/referrers/")
            .iter()
            .any(|s| s.path.ends_with(&index.digest))
    );
    assert_eq!(dst.manifest_digest("m/app", &sig).as_ref(), Some(&sig));
    assert_eq!(dst.manifest_digest("m/app", &att).as_ref(), Some(&att));
    assert_eq!(
        listed(dst, "m/app", &fallback_tag(&index.digest)),
        [sig.as_str()]
    );
    assert_eq!(
        listed(dst, "m/app", &fallback_tag(&arm.manifest_digest)),
        [att.as_str()]
    );

    // A target with the API lists them itself: no fallback tag is written there.
    let dst2 = Registry::start();
    let target = FaultProxy::start(&dst2.host());
    serve_referrers(&target, &[(index.digest.as_str(), vec![sig_desc])]);
    sc.ok(&[
        "copy",
        "--referrers",
        &from,
        &format!("{}/m/app:1.0.0", target.host()),
    ]);
    assert_eq!(dst2.manifest_digest("m/app", &sig).as_ref(), Some(&sig));
    assert_eq!(dst2.manifest_digest("m/app", &att).as_ref(), Some(&att));
    assert_eq!(dst2.tags("m/app"), ["1.0.0"]);
}

/// `push --referrers` sends a stored image and copies its referrers from the registry the
/// image was pulled from.
#[test]
fn push_carries_referrers_from_the_image_registry() {
    let sc = Scenario::new().registry().target().release("1.0.0");
    let (dst, r) = (sc.dst(), sc.signed("1.0.0"));
    let name = sc.reference("team/app:1.0.0");
    sc.ok(&["pull", "--all-platforms", &name]);
    let out = sc.ok(&[
        "push",
        "--referrers",
        &name,
        &dst.reference("pushed/app:1.0.0"),
    ]);
    assert_eq!(
        dst.manifest_digest("pushed/app", "1.0.0").as_ref(),
        Some(&r.index.digest)
    );
    assert!(carried(dst, "pushed/app", r), "{out}");
}

/// A copy of two of three platforms is a new index the source never had: the referrers of
/// the platform manifests in it are carried, the source index's are not.
#[test]
fn a_platform_subset_carries_its_platforms_referrers() {
    use crate::support::fixtures::{ImageBuilder, Layer, Platform, base_layer};

    let images = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
        .iter()
        .map(|p| {
            ImageBuilder::new()
                .format(MediaFormat::Oci)
                .platform(Platform::parse(p))
                .layer(base_layer())
                .layer(Layer::from_files(&[("etc/platform", *p)]))
                .build()
        })
        .collect();
    let index = FixtureIndex::new(MediaFormat::Oci, images);
    let sc = Scenario::new()
        .registry()
        .target()
        .index("team/app:1.0.0", &index);
    let (src, dst) = (sc.reg(), sc.dst());
    let signature = attach_artifact(
        src,
        "team/app",
        index.subject(),
        SIGNATURE,
        b"signature of the whole index",
    );
    let arm = index.image("linux/arm64/v8");
    let sbom = attach_artifact(src, "team/app", arm.subject(), SBOM, b"sbom of arm64");
    sc.ok(&[
        "copy",
        "--referrers",
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64/v8",
        &sc.reference("team/app:1.0.0"),
        &dst.reference("two/app:1.0.0"),
    ]);
    assert_ne!(
        dst.manifest_digest("two/app", "1.0.0").as_ref(),
        Some(&index.digest)
    );
    assert_eq!(dst.manifest_digest("two/app", &sbom).as_ref(), Some(&sbom));
    assert_eq!(
        listed(dst, "two/app", &fallback_tag(&arm.manifest_digest)),
        [sbom.as_str()]
    );
    assert_eq!(dst.manifest_digest("two/app", &signature), None);
}

/// A target keeping one platform holds that platform's manifest and gets its referrers
/// (the amd64 SBOM), not the index's signature or cosign tag; the plan counts just those,
/// and a second run carries nothing.
#[test]
fn a_one_platform_target_gets_that_platforms_referrers() {
    let sc = Scenario::new()
        .registry()
        .target()
        .release("1.0.0")
        .policy("version: 1\ndefaults: { platforms: [linux/amd64, linux/arm64/v8] }\nimages:\n  - name: {registry}/team/app\n    tags: [\"1.0.0\"]\nreplicate:\n  - to: {target}/amd64\n    platforms: [linux/amd64]\n");
    let (dst, r, file) = (sc.dst(), sc.signed("1.0.0"), sc.policy_arg());
    let plan = sc.ok(&["plan", "-f", file]);
    assert!(plan.contains("(1 of 1 referrers to carry)"), "{plan}");
    let apply = || sc.ok(&["apply", "--yes", "-f", file]);
    let out = apply();
    let amd64 = r.index.image("linux/amd64");
    assert_eq!(
        dst.manifest_digest("amd64/team/app", "1.0.0").as_ref(),
        Some(&amd64.manifest_digest),
        "{out}"
    );
    assert_eq!(
        listed(dst, "amd64/team/app", &fallback_tag(&amd64.manifest_digest)),
        [r.sbom.as_str()]
    );
    assert_eq!(dst.manifest_digest("amd64/team/app", &r.signature), None);
    assert_eq!(dst.manifest_digest("amd64/team/app", &r.cosign.0), None);
    let mark = dst.mark();
    let out = apply();
    assert!(
        out.contains("Referrers: 0 to carry, 1 at the sources"),
        "{out}"
    );
    assert_eq!(writes(dst, mark), 0, "{out}");
}
