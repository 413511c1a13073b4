//! Policy replication (`replicate:`) against real registries: digests preserved, a no-op
//! run costs one HEAD per tag and one ledger read, retention deletes imagectl's own pushes from the target and
//! never anyone else's.

use crate::support::cli::succeeded as ok;
use crate::support::fixtures::{MediaFormat, app_image, push_image_http};
use crate::support::{Registry, Scenario};

fn push_version(reg: &Registry, v: &str) {
    push_image_http(reg, "team/app", v, &app_image(v, MediaFormat::Oci));
}

/// Writes to the target since `mark`: uploads and manifest PUTs and DELETEs.
fn writes(reg: &Registry, mark: crate::support::registry::LogMark) -> usize {
    reg.requests_since(mark)
        .iter()
        .filter(|r| matches!(r.method.as_str(), "PUT" | "POST" | "PATCH" | "DELETE"))
        .count()
}

#[test]
fn replicate_keeps_the_target_in_step() {
    let sc = Scenario::new()
        .registry()
        .releases("team/app", &["1.0.0", "1.1.0", "1.2.0"])
        .target()
        // A tag in the target that imagectl did not push: never touched.
        .target_image("mirror/team/app:0.9.0", &app_image("0.9.0", MediaFormat::Oci))
        .policy("version: 1\nimages:\n  - name: {registry}/team/app\n    semver: \">=1\"\n    keep: 2\nreplicate:\n  - to: {target}/mirror\n");
    let (src, dst, env, file) = (sc.reg(), sc.dst(), sc.env(), sc.policy_arg());

    let out = ok(&env.run(&["plan", "-f", file]));
    assert!(out.contains("> push"), "{out}");
    assert!(
        out.contains("Replication: 2 to push, 0 to delete, 0 up to date."),
        "{out}"
    );

    let out = ok(&env.run(&["apply", "--yes", "-f", file]));
    assert!(out.contains("Replicated: 2 pushed"), "{out}");
    let mut tags = dst.tags("mirror/team/app");
    tags.sort();
    assert_eq!(tags, ["0.9.0", "1.1.0", "1.2.0"]);
    for v in ["1.1.0", "1.2.0"] {
        assert_eq!(
            dst.manifest_digest("mirror/team/app", v),
            src.manifest_digest("team/app", v),
            "digest preserved for {v}"
        );
    }

    // Nothing changed: one HEAD per tag at the target and one read of the ledger there
    // (its manifest and its one layer), nothing written anywhere.
    let mark = dst.mark();
    let out = ok(&env.run(&["apply", "--yes", "-f", file]));
    assert!(out.contains("No changes"), "{out}");
    assert!(out.contains("2 up to date"), "{out}");
    let seen = dst.requests_since(mark);
    assert_eq!(
        seen.iter().filter(|r| r.method == "HEAD").count(),
        2,
        "{seen:#?}"
    );
    assert_eq!(writes(dst, mark), 0);
    let ledger_reads = seen
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/v2/mirror/imagectl-ledger/"))
        .count();
    assert_eq!(ledger_reads, 2, "{seen:#?}");
    assert!(
        seen.iter().all(|r| r.method == "HEAD"
            || r.path == "/v2/"
            || r.path.starts_with("/v2/mirror/imagectl-ledger/")),
        "{seen:#?}"
    );

    // A new version: pulled and pushed; the oldest kept one leaves the store and the target.
    push_version(src, "1.3.0");
    let out = ok(&env.run(&["apply", "--yes", "-f", file]));
    assert!(out.contains("1 deleted"), "{out}");
    let mut tags = dst.tags("mirror/team/app");
    tags.sort();
    assert_eq!(tags, ["0.9.0", "1.2.0", "1.3.0"]);

    // Someone re-pushes a tag imagectl pushed: it is theirs now and survives retention.
    push_version(src, "1.4.0");
    push_image_http(
        dst,
        "mirror/team/app",
        "1.2.0",
        &app_image("other", MediaFormat::Oci),
    );
    let out = ok(&env.run(&["apply", "--yes", "-f", file]));
    assert!(out.contains("no longer imagectl's to delete"), "{out}");
    let mut tags = dst.tags("mirror/team/app");
    tags.sort();
    assert_eq!(tags, ["0.9.0", "1.2.0", "1.3.0", "1.4.0"]);
}

/// An unreachable target: the store side still converges, nothing is deleted anywhere,
/// and the run exits 1 naming the target.
#[test]
fn unreachable_target_fails_cleanly() {
    let refusing = crate::support::registry::dead_port();
    let port = refusing.port();
    let sc = Scenario::new()
        .registry()
        .releases("team/app", &["1.0.0"])
        .policy(&format!(
            "version: 1\nimages:\n  - name: {{registry}}/team/app\n    tags: [\"1.0.0\"]\nreplicate:\n  - to: 127.0.0.1:{port}/mirror\n"
        ));
    let (src, env) = (sc.reg(), sc.env());
    let out = env.run(&["apply", "--yes", "-f", sc.policy_arg()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("connection refused"), "{text}");
    assert_eq!(
        crate::support::cli::store_refs(&env.store),
        [format!("{}/team/app:1.0.0", src.host())]
    );
}
