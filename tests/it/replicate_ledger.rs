//! The replication ledger kept in the target registry: runs from empty stores or other
//! hosts propagate deletions of earlier pushes, the store's old local ledger moves into the
//! target, and concurrent writers keep each other's records.

use std::process::Stdio;

use crate::support::cli::succeeded as ok;
use crate::support::fixtures::{MediaFormat, app_image, push_image_http};
use crate::support::{Registry, Scenario, TestEnv};

fn write_policy(env: &TestEnv, src: &Registry, dst: &Registry, repo: &str, keep: usize) -> String {
    let path = env.write_policy(&format!(
            "version: 1\nimages:\n  - name: {}/{repo}\n    semver: \">=1\"\n    keep: {keep}\nreplicate:\n  - to: {}/mirror\n",
            src.host(),
            dst.host()
        ));
    path.to_str().unwrap().to_string()
}

fn push_version(reg: &Registry, repo: &str, v: &str) {
    push_image_http(reg, repo, v, &app_image(v, MediaFormat::Oci));
}

fn apply(env: &TestEnv, policy: &str) -> String {
    ok(&env.run(&["apply", "--yes", "-f", policy]))
}

fn sorted_tags(reg: &Registry, repo: &str) -> Vec<String> {
    let mut tags = reg.tags(repo);
    tags.sort();
    tags
}

/// The target tags the ledger `mirror/imagectl-ledger:default` in `reg` lists, read the
/// way any OCI client would: its manifest, then its one layer.
fn ledger_targets(reg: &Registry) -> Vec<String> {
    let (_, manifest) = reg.get_manifest("mirror/imagectl-ledger", "default");
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        manifest["artifactType"],
        "application/vnd.imagectl.replication-ledger.v1+json"
    );
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let resp = reg
        .call(
            "GET",
            &format!("/v2/mirror/imagectl-ledger/blobs/{layer}"),
            &[],
            &[],
        )
        .unwrap();
    assert_eq!(resp.status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    let mut targets: Vec<String> = doc["pushed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap().to_string())
        .collect();
    targets.sort();
    targets
}

/// A run from an empty store deletes exactly the tags an earlier run from another store
/// pushed and retention dropped, and no tag imagectl did not push.
#[test]
fn a_fresh_store_deletes_what_another_store_pushed() {
    let sc = Scenario::new()
        .registry()
        .releases("team/app", &["1.0.0", "1.1.0", "1.2.0"])
        .target()
        .target_image(
            "mirror/team/app:0.9.0",
            &app_image("0.9.0", MediaFormat::Oci),
        );
    let (src, dst, first) = (sc.reg(), sc.dst(), sc.env());
    let policy = write_policy(first, src, dst, "team/app", 2);
    let out = apply(first, &policy);
    assert!(out.contains("Replicated: 2 pushed"), "{out}");
    assert_eq!(
        ledger_targets(dst),
        ["mirror/team/app:1.1.0", "mirror/team/app:1.2.0"]
    );

    // Another runner, its store empty, after a new release: 1.1.0 leaves the target.
    push_version(src, "team/app", "1.3.0");
    let second = TestEnv::new();
    let policy = write_policy(&second, src, dst, "team/app", 2);
    let out = apply(&second, &policy);
    assert!(out.contains("Replicated: 1 pushed"), "{out}");
    assert!(out.contains("1 deleted"), "{out}");
    assert_eq!(
        sorted_tags(dst, "mirror/team/app"),
        ["0.9.0", "1.2.0", "1.3.0"]
    );
    assert_eq!(
        ledger_targets(dst),
        ["mirror/team/app:1.2.0", "mirror/team/app:1.3.0"]
    );

    // A third empty store whose policy names another ledger knows none of those pushes:
    // it keeps every tag, though its retention would drop 1.2.0, and having pushed
    // nothing it writes no ledger.
    let third = TestEnv::new();
    let path = third.write_policy(&format!(
        "version: 1\nimages:\n  - name: {}/team/app\n    semver: \">=1\"\n    keep: 1\nreplicate:\n  - to: {}/mirror\n    ledger: staging\n",
        src.host(),
        dst.host()
    ));
    let out = apply(&third, path.to_str().unwrap());
    assert!(out.contains(", 0 deleted"), "{out}");
    assert_eq!(
        sorted_tags(dst, "mirror/team/app"),
        ["0.9.0", "1.2.0", "1.3.0"]
    );
    assert_eq!(sorted_tags(dst, "mirror/imagectl-ledger"), ["default"]);
}

/// A store that kept its ledger locally (imagectl before the ledger moved into targets)
/// has it moved into the target on its next run, and a fresh store then acts on it.
#[test]
fn the_store_ledger_moves_into_the_target() {
    let sc = Scenario::new()
        .registry()
        .releases("team/app", &["1.0.0", "1.1.0"])
        .target();
    let (src, dst, env) = (sc.reg(), sc.dst(), sc.env());
    let policy = write_policy(env, src, dst, "team/app", 2);
    apply(env, &policy);
    // Turn this into a store from before: the records only in its own ledger file, the
    // target without a ledger.
    let local: Vec<serde_json::Value> = ["1.0.0", "1.1.0"]
        .iter()
        .map(|v| {
            let digest = dst.manifest_digest("mirror/team/app", v).unwrap();
            serde_json::json!({
                "target": format!("{}/mirror/team/app:{v}", dst.host()),
                "source": format!("{}/team/app:{v}", src.host()),
                "source_digest": digest,
                "pushed_digest": digest,
            })
        })
        .collect();
    let state = env.store.join(".imagectl/replicated.json");
    std::fs::write(
        &state,
        serde_json::to_vec(&serde_json::json!({ "version": 1, "pushed": local })).unwrap(),
    )
    .unwrap();
    let ledger = dst
        .manifest_digest("mirror/imagectl-ledger", "default")
        .unwrap();
    dst.delete_manifest("mirror/imagectl-ledger", &ledger);

    // Nothing to push, but the records move.
    let out = apply(env, &policy);
    assert!(out.contains("2 up to date"), "{out}");
    assert_eq!(
        ledger_targets(dst),
        ["mirror/team/app:1.0.0", "mirror/team/app:1.1.0"]
    );
    let left: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(left["pushed"], serde_json::json!([]), "{left}");

    // A fresh store with a new release: the migrated 1.0.0 is deleted.
    push_version(src, "team/app", "1.2.0");
    let fresh = TestEnv::new();
    let policy = write_policy(&fresh, src, dst, "team/app", 2);
    let out = apply(&fresh, &policy);
    assert!(out.contains("1 deleted"), "{out}");
    assert_eq!(sorted_tags(dst, "mirror/team/app"), ["1.1.0", "1.2.0"]);
}

/// Four runs from four stores replicating four repositories to one target at once, one
/// ledger: every run's pushes end up recorded, none overwritten by another writer.
#[test]
fn concurrent_writers_keep_each_others_records() {
    let repos = ["team/a", "team/b", "team/c", "team/d"];
    let sc = repos
        .iter()
        .fold(Scenario::new().registry().target(), |sc, repo| {
            sc.releases(repo, &["1.0.0"])
        });
    let (src, dst) = (sc.reg(), sc.dst());
    let envs: Vec<(TestEnv, String)> = repos
        .iter()
        .map(|repo| {
            let env = TestEnv::new();
            let policy = write_policy(&env, src, dst, repo, 1);
            (env, policy)
        })
        .collect();
    let children: Vec<_> = envs
        .iter()
        .map(|(env, policy)| {
            crate::support::cli::imagectl_process(&env.store, &env.home)
                .args(["apply", "--yes", "-f", policy])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let text = ok(&out);
        assert!(text.contains("Replicated: 1 pushed"), "{text}");
    }
    let writes = dst
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path == "/v2/mirror/imagectl-ledger/manifests/default")
        .count();
    assert!(
        writes >= 4,
        "each run wrote the ledger at least once: {writes}"
    );
    assert_eq!(
        ledger_targets(dst),
        repos.map(|r| format!("mirror/{r}:1.0.0"))
    );
}
