//! The declarative loop against a real registry: `plan` and `apply` keep exactly what a
//! policy says, cheaply when nothing changed, and remove nothing when something failed.

use std::path::Path;
use std::process::Output;

use crate::errors::fingerprint;
use crate::support::fixtures::{FixtureImage, MediaFormat, app_image, push_image_http};
use crate::support::output::text as out_text;
use crate::support::{Registry, Scenario, StoreProbe, TestEnv};

fn tags_in_store(store: &Path, repo: &str) -> Vec<String> {
    let mut tags: Vec<String> = crate::support::cli::store_refs(store)
        .into_iter()
        .filter_map(|r| r.strip_prefix(&format!("{repo}:")).map(str::to_string))
        .collect();
    tags.sort();
    tags
}

/// Pushes `demo/app:1.0.0` … `1.N.0` (distinct images) plus `latest` and a pre-release.
fn push_versions(reg: &Registry, n: usize) -> Vec<FixtureImage> {
    let mut images = Vec::new();
    for minor in 0..n {
        let v = format!("1.{minor}.0");
        let img = app_image(&v, MediaFormat::Oci);
        push_image_http(reg, "demo/app", &v, &img);
        images.push(img);
    }
    push_image_http(reg, "demo/app", "latest", &images[n - 1]);
    push_image_http(
        reg,
        "demo/app",
        "2.0.0-rc.1",
        &app_image("2.0.0-rc.1", MediaFormat::Oci),
    );
    images
}

/// keep: 3 over twelve semver tags keeps exactly the three newest; the next apply is a
/// no-op within one tag listing plus one HEAD per kept tag and writes nothing; a newly
/// pushed version is pulled with one manifest GET and the oldest of the three removed with
/// its blobs.
#[test]
fn keep_newest_three_then_noop_then_roll_forward() {
    let sc = Scenario::new().registry().policy(
        "version: 1\nimages:\n  - name: {registry}/demo/app\n    semver: \">=1.0.0\"\n    keep: 3\nprune:\n  dangling: true\n",
    );
    let (reg, env, p) = (sc.reg(), sc.env(), sc.policy_arg());
    let images = push_versions(reg, 12);
    let repo = reg.reference("demo/app");

    let out = env.run(&["plan", "-f", p, "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", out_text(&out));
    assert!(
        out_text(&out).contains(&format!("+ pull    {repo}:1.11.0")),
        "{}",
        out_text(&out)
    );

    let out = env.run(&["apply", "-f", p, "--yes"]);
    assert!(out.status.success(), "{}", out_text(&out));
    assert_eq!(
        tags_in_store(&env.store, &repo),
        vec!["1.10.0", "1.11.0", "1.9.0"]
    );

    // Nothing changed upstream: one tag listing, one HEAD per kept tag, no GET, no write.
    let before = fingerprint(&env.store);
    let mark = reg.mark();
    let out = env.run(&["apply", "-f", p, "--yes"]);
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(out_text(&out).contains("No changes"), "{}", out_text(&out));
    let requests = reg.requests_since(mark);
    assert_eq!(
        reg.count_since(mark, "GET", "/tags/list"),
        1,
        "{requests:?}"
    );
    assert_eq!(
        reg.count_since(mark, "HEAD", "/manifests/"),
        3,
        "{requests:?}"
    );
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert_eq!(
        fingerprint(&env.store),
        before,
        "a no-op apply writes nothing"
    );
    let out = env.run(&["plan", "-f", p, "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", out_text(&out));

    // A new version: pulled, and 1.9.0 goes with the blobs only it used.
    let v12 = app_image("1.12.0", MediaFormat::Oci);
    push_image_http(reg, "demo/app", "1.12.0", &v12);
    let mark = reg.mark();
    let out = env.run(&["apply", "-f", p, "--yes"]);
    assert!(out.status.success(), "{}", out_text(&out));
    // The kept tags the store has cost a HEAD each; the new one a single GET by tag,
    // whose body the pull reuses (no HEAD before it, no second GET by digest).
    let requests = reg.requests_since(mark);
    assert_eq!(
        reg.count_since(mark, "HEAD", "/manifests/"),
        2,
        "{requests:?}"
    );
    assert_eq!(
        reg.count_since(mark, "GET", "/manifests/"),
        1,
        "{requests:?}"
    );
    assert!(
        out_text(&out).contains(&format!("- remove  {repo}:1.9.0")),
        "{}",
        out_text(&out)
    );
    assert_eq!(
        tags_in_store(&env.store, &repo),
        vec!["1.10.0", "1.11.0", "1.12.0"]
    );
    assert!(
        !StoreProbe::new(&env.store).has_blob(&images[9].layers[1].digest),
        "1.9.0's own layer is gone"
    );
    assert!(
        StoreProbe::new(&env.store).has_blob(&images[9].layers[0].digest),
        "the shared base layer stays"
    );
    env.imagectl().arg("fsck").assert().success();
}

/// A plan that only untags says so ("1 to untag, 0 to remove"), and apply's summary
/// counts the same: untags, removals and prunes are never lumped together.
#[test]
fn plan_and_apply_count_untags_apart_from_removals() {
    let reg = Registry::start();
    let img = app_image("1.0.0", MediaFormat::Oci);
    push_image_http(&reg, "demo/app", "1.0.0", &img);
    push_image_http(&reg, "demo/app", "1.1.0", &img);
    let env = TestEnv::new();
    let repo = reg.reference("demo/app");
    let out = apply_policy(&env, &semver_policy(&repo, ""));
    assert!(out.status.success(), "{}", out_text(&out));
    assert_eq!(tags_in_store(&env.store, &repo), vec!["1.0.0", "1.1.0"]);

    let policy = env.write_policy(&semver_policy(&repo, "    keep: 1\n"));
    let p = policy.to_str().unwrap();
    let out = env.run(&["plan", "-f", p]);
    let text = out_text(&out);
    assert!(
        text.contains("Plan: 0 to pull (0B), 0 to tag, 1 to untag, 0 to remove (frees 0B)."),
        "{text}"
    );
    let out = env.run(&["apply", "-f", p, "--yes"]);
    let text = out_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "Applied: 0 pulled (0B downloaded), 0 tagged, 1 untagged, 0 removed (0B reclaimed)"
        ),
        "{text}"
    );
    assert_eq!(tags_in_store(&env.store, &repo), vec!["1.1.0"]);
}

/// `apply -f POLICY --yes` with `yaml` written as the policy.
fn apply_policy(env: &TestEnv, yaml: &str) -> Output {
    let policy = env.write_policy(yaml);
    env.run(&["apply", "-f", policy.to_str().unwrap(), "--yes"])
}

/// A policy of one semver selector on `repo`, with `more` appended (keep, prune, …).
fn semver_policy(repo: &str, more: &str) -> String {
    format!("version: 1\nimages:\n  - name: {repo}\n    semver: \">=1.0.0\"\n{more}")
}

/// A store holding `n` versions of demo/app from `reg`, applied by a selector keeping all.
fn store_with_versions(reg: &Registry, n: usize) -> (TestEnv, String) {
    push_versions(reg, n);
    let env = TestEnv::new();
    let repo = reg.reference("demo/app");
    let out = apply_policy(&env, &semver_policy(&repo, ""));
    assert!(out.status.success(), "{}", out_text(&out));
    assert_eq!(tags_in_store(&env.store, &repo).len(), n);
    (env, repo)
}

/// With the registry down, apply fails for the entry, says so, and removes nothing —
/// not even images its retention would otherwise drop.
#[test]
fn registry_down_removes_nothing() {
    let reg = Registry::start();
    let (env, repo) = store_with_versions(&reg, 4);
    drop(reg);
    let before = fingerprint(&env.store);
    let out = apply_policy(
        &env,
        &semver_policy(&repo, "    keep: 1\nprune:\n  unmanaged: remove\n"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", out_text(&out));
    let text = out_text(&out);
    assert!(text.contains("cannot reach registry"), "{text}");
    assert!(
        text.contains("nothing in this repository will be removed"),
        "{text}"
    );
    assert_eq!(fingerprint(&env.store), before);
}

/// A plan removing more than max_removals is shown, then refused before anything is removed.
#[test]
fn max_removals_refuses_before_removing() {
    let reg = Registry::start();
    let (env, repo) = store_with_versions(&reg, 5);
    let before = fingerprint(&env.store);
    let out = apply_policy(
        &env,
        &semver_policy(&repo, "    keep: 1\nprune:\n  max_removals: 2\n"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", out_text(&out));
    let text = out_text(&out);
    assert!(
        text.contains("4 removals exceed prune.max_removals (2)"),
        "{text}"
    );
    assert_eq!(fingerprint(&env.store), before, "nothing removed");
}

/// `plan --json` is machine-readable and apply refuses to run unattended without --yes.
#[test]
fn plan_json_and_unattended_apply() {
    let sc = Scenario::new().registry().policy(
        "version: 1\nimages:\n  - name: {registry}/demo/app\n    tags: [\"1.0.0\"]\n    also_tag: [\"local/app:stable\"]\n",
    );
    let (reg, env, p) = (sc.reg(), sc.env(), sc.policy_arg());
    push_versions(reg, 2);
    let repo = reg.reference("demo/app");
    let out = env.run(&["plan", "-f", p, "--json"]);
    assert!(out.status.success(), "{}", out_text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["actions"][0]["action"], "pull");
    assert_eq!(v["actions"][0]["name"], format!("{repo}:1.0.0"));
    assert_eq!(v["actions"][1]["action"], "tag");
    assert_eq!(v["actions"][1]["target"], "docker.io/local/app:stable");

    let out = env.run(&["apply", "-f", p]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out_text(&out).contains("--yes"), "{}", out_text(&out));
    assert!(
        !env.store.join("index.json").exists(),
        "nothing was written"
    );

    let out = env.run(&["apply", "-f", p, "--yes", "--json"]);
    assert!(out.status.success(), "{}", out_text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["report"]["pulled"][0], format!("{repo}:1.0.0"));
    assert_eq!(v["report"]["tagged"][0], "docker.io/local/app:stable");
    let inspect = env.run(&["inspect", "-f", "{{.Id}}", "local/app:stable"]);
    assert!(inspect.status.success());
}

/// Registry credentials come from the policy (`username` + `password_env`), are used for a
/// basic-auth registry, and never show in output; a missing variable is a clear error.
#[test]
fn policy_credentials_from_environment() {
    let sc = Scenario::new().authenticated("ci", "pw-from-env-42").policy(
        "version: 1\nregistries:\n  \"{registry}\":\n    username: ci\n    password_env: REG_PW\nimages:\n  - name: {registry}/demo/app\n    tags: [\"1.0.0\"]\n",
    );
    let (reg, env, p) = (sc.reg(), sc.env(), sc.policy_arg());
    let img = app_image("1.0.0", MediaFormat::Oci);
    crate::support::fixtures::push_image(reg, &img, "demo/app:1.0.0", MediaFormat::Oci);
    let repo = reg.reference("demo/app");
    let out = env.run(&["plan", "-f", p]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out_text(&out).contains("environment variable REG_PW (password_env) is not set"),
        "{}",
        out_text(&out)
    );

    let out = env
        .imagectl()
        .args(["-vv", "apply", "-f", p, "--yes"])
        .env("REG_PW", "pw-from-env-42")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(
        !out_text(&out).contains("pw-from-env-42"),
        "the password leaked"
    );
    assert_eq!(tags_in_store(&env.store, &repo), vec!["1.0.0"]);

    // Another registry's unreadable password does not stop work with this one.
    let other = env.write_policy(&format!(
            "version: 1\nregistries:\n  \"{}\":\n    username: ci\n    password_env: REG_PW\n  \"other.example:5000\":\n    username: x\n    password_file: /nonexistent/pw\nimages:\n  - name: {repo}\n    tags: [\"1.0.0\"]\n",
            reg.host()
        ),
    );
    let out = env
        .imagectl()
        .args(["plan", "-f", other.to_str().unwrap()])
        .env("REG_PW", "pw-from-env-42")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
}
