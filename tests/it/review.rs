//! Reviewing a policy change against a real registry: `imagectl diff` says what the
//! change does to the wanted set and the settings, `plan --state` plans against the state
//! a host reported, and both render as JSON and as a pull-request comment.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::cli::succeeded;
use crate::support::fixtures::{FixtureImage, MediaFormat, app_image, push_image_http};
use crate::support::output::text;
use crate::support::{Registry, TestEnv};

fn write(dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// Digests, registry ports, times and temp paths vary per run; the shapes must not.
fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"sha256:[0-9a-f]{64}", "[DIGEST]"),
        (r"\b[0-9a-f]{12}\b", "[SHORT]"),
        (r"127\.0\.0\.1:\d+", "[REGISTRY]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:[\d.]+Z", "[TIME]"),
        (r"/tmp/imagectl-it-\w+", "[TMP]"),
    ]
}

/// The registry of the review tests: demo/app 1.0.0–1.3.0, demo/tools a and b,
/// demo/lib 1.0.0 and two images under demo/base to pin.
struct Fixture {
    reg: Registry,
    tools_b: FixtureImage,
    base: [FixtureImage; 2],
}

fn fixture() -> Fixture {
    let reg = Registry::start();
    for minor in 0..4 {
        let v = format!("1.{minor}.0");
        push_image_http(&reg, "demo/app", &v, &app_image(&v, MediaFormat::Oci));
    }
    push_image_http(
        &reg,
        "demo/tools",
        "a",
        &app_image("tools-a", MediaFormat::Oci),
    );
    let tools_b = app_image("tools-b", MediaFormat::Oci);
    push_image_http(&reg, "demo/tools", "b", &tools_b);
    push_image_http(
        &reg,
        "demo/lib",
        "1.0.0",
        &app_image("lib", MediaFormat::Oci),
    );
    let base = [
        app_image("base-1", MediaFormat::Oci),
        app_image("base-2", MediaFormat::Oci),
    ];
    push_image_http(&reg, "demo/base", "one", &base[0]);
    push_image_http(&reg, "demo/base", "two", &base[1]);
    Fixture { reg, tools_b, base }
}

/// The base branch's policy and the pull request's: app keeps 2 → 1, tools wants b too,
/// the base pin moves, max_removals 10 → 5; demo/lib is the same in both.
fn versions(f: &Fixture, dir: &Path) -> (PathBuf, PathBuf) {
    let r = |repo: &str| f.reg.reference(repo);
    let policy = |keep: usize, tools: &str, pin: &str, max: usize| {
        format!(
            "version: 1\nimages:\n  - name: {}\n    semver: \">=1.0.0\"\n    keep: {keep}\n  - name: {}\n    tags: [{tools}]\n  - name: {}@{pin}\n  - name: {}\n    semver: \">=1.0.0\"\nprune:\n  max_removals: {max}\n",
            r("demo/app"),
            r("demo/tools"),
            r("demo/base"),
            r("demo/lib"),
        )
    };
    let old = write(
        dir,
        "old.yaml",
        &policy(2, "a", &f.base[0].manifest_digest, 10),
    );
    let new = write(
        dir,
        "new.yaml",
        &policy(1, "a, b", &f.base[1].manifest_digest, 5),
    );
    (old, new)
}

/// A diff of two policy versions names the new tag with its digest and download size,
/// the tag retention drops, the moved pin and the changed settings, in JSON, Markdown and
/// text; exits 2; and asks the registry for an entry both versions share once.
#[test]
fn diff_of_two_policy_versions() {
    let f = fixture();
    let env = TestEnv::new();
    let (old, new) = versions(&f, env.root.path());
    let mark = f.reg.mark();
    let out = env
        .imagectl()
        .args(["diff", old.to_str().unwrap(), new.to_str().unwrap()])
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(
        f.reg.count_since(mark, "GET", "/v2/demo/lib/tags/list"),
        1,
        "an entry both versions share is expanded once"
    );
    let v = json(&out);
    let repo = |name: &str| {
        v["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["repository"] == f.reg.reference(name))
            .unwrap_or_else(|| panic!("{name} not in {v:#}"))
            .clone()
    };
    let tools = repo("demo/tools");
    assert_eq!(tools["added"][0]["name"], f.reg.reference("demo/tools:b"));
    assert_eq!(tools["added"][0]["digest"], f.tools_b.manifest_digest);
    assert_eq!(tools["added"][0]["download_bytes"], f.tools_b.blobs_size());
    assert_eq!(tools["settings"][0]["key"], "tags");
    let app = repo("demo/app");
    assert_eq!(app["removed"][0]["name"], f.reg.reference("demo/app:1.2.0"));
    assert_eq!(app["removed"][0]["fate"], "retention");
    assert_eq!(app["added"].as_array().unwrap().len(), 0);
    assert_eq!(
        app["settings"],
        serde_json::json!([{ "key": "keep", "old": "2", "new": "1" }])
    );
    let base = repo("demo/base");
    assert_eq!(base["changed"][0]["old_digest"], f.base[0].manifest_digest);
    assert_eq!(base["changed"][0]["new_digest"], f.base[1].manifest_digest);
    assert!(
        v["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["repository"] != f.reg.reference("demo/lib")),
        "an unchanged entry is not listed: {v:#}"
    );
    assert_eq!(
        v["settings"],
        serde_json::json!([{ "key": "prune.max_removals", "old": "10", "new": "5" }])
    );
    assert_eq!(v["summary"]["added"], 1);
    assert_eq!(v["summary"]["removed_on_hosts"], 1);
    assert_eq!(v["summary"]["changed"], 1);
    insta::with_settings!({ filters => filters() }, {
        insta::assert_json_snapshot!("diff_json", v);
    });

    let out = env
        .imagectl()
        .args(["diff", old.to_str().unwrap(), new.to_str().unwrap()])
        .args(["--format", "markdown"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    insta::with_settings!({ filters => filters() }, {
        insta::assert_snapshot!("diff_markdown", String::from_utf8_lossy(&out.stdout));
    });

    let out = env.run(&["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    insta::with_settings!({ filters => filters() }, {
        insta::assert_snapshot!("diff_text", String::from_utf8_lossy(&out.stdout));
    });
}

/// `diff` exits 0 when nothing changes, 1 when an entry cannot be expanded or a policy
/// does not load (saying which), and changes nothing in the store.
#[test]
fn diff_exit_codes() {
    let f = fixture();
    let env = TestEnv::new();
    let (old, _) = versions(&f, env.root.path());
    let o = old.to_str().unwrap();
    let out = env.run(&["diff", o, o]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("No changes"), "{}", text(&out));

    let missing = write(
        env.root.path(),
        "missing.yaml",
        &format!(
            "version: 1\nimages:\n  - name: {}\n    tags: [\"9.9.9\"]\n",
            f.reg.reference("demo/app")
        ),
    );
    let out = env.run(&["diff", o, missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("demo/app:9.9.9 not found in the registry"),
        "{}",
        text(&out)
    );

    let out = env.run(&["diff", o, "/nonexistent/policy.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("/nonexistent/policy.yaml"),
        "{}",
        text(&out)
    );
    assert!(!env.store.exists(), "diff opened the store");
}

/// The plan against a host's saved run report equals the plan against the store the
/// report came from, and planning from the report writes nothing anywhere.
#[test]
fn plan_against_saved_report_equals_plan_against_store() {
    let f = fixture();
    let env = TestEnv::new();
    let (old, new) = versions(&f, env.root.path());
    let report = env.root.path().join("last-run.json");
    succeeded(
        &env.imagectl()
            .args(["apply", "-f", old.to_str().unwrap(), "--yes", "--report"])
            .arg(&report)
            .output()
            .unwrap(),
    );
    let against_store = env.run(&["plan", "-f", new.to_str().unwrap(), "--format", "json"]);
    let against_store = json(&against_store);
    assert!(
        !against_store["actions"].as_array().unwrap().is_empty(),
        "the new policy changes the host: {against_store:#}"
    );

    let elsewhere = env.root.path().join("no-store-here");
    let out = crate::support::cli::imagectl_with_home(&elsewhere, &env.home)
        .args(["plan", "-f", new.to_str().unwrap(), "--format", "json"])
        .arg("--state")
        .arg(&report)
        .arg("--detailed-exitcode")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["hosts"][0]["plan"], against_store);
    assert_eq!(
        v["hosts"][0]["location"],
        env.store.display().to_string().as_str()
    );
    assert!(!elsewhere.exists(), "plan --state opened a store");

    let out = crate::support::cli::imagectl_with_home(&elsewhere, &env.home)
        .args(["plan", "-f", new.to_str().unwrap(), "--format", "markdown"])
        .arg("--state")
        .arg(&report)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    insta::with_settings!({ filters => filters() }, {
        insta::assert_snapshot!("plan_state_markdown", String::from_utf8_lossy(&out.stdout));
    });
}

/// A change that would make a reported host remove more than max_removals is flagged in
/// the diff and in the plan against that host's report as a warning line.
#[test]
fn removals_over_the_limit_on_a_reported_host_are_a_warning() {
    let f = fixture();
    let env = TestEnv::new();
    let (old, _) = versions(&f, env.root.path());
    let report = env.root.path().join("last-run.json");
    succeeded(
        &env.imagectl()
            .args(["apply", "-f", old.to_str().unwrap(), "--yes", "--report"])
            .arg(&report)
            .output()
            .unwrap(),
    );
    // Keep 1 of demo/app with max_removals 0: the host would untag or remove 1.2.0.
    let strict = write(
        env.root.path(),
        "strict.yaml",
        &std::fs::read_to_string(&old)
            .unwrap()
            .replace("keep: 2", "keep: 1")
            .replace("max_removals: 10", "max_removals: 0"),
    );
    let out = env
        .imagectl()
        .args(["diff", old.to_str().unwrap(), strict.to_str().unwrap()])
        .arg("--state")
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    let warning = format!(
        "WARNING: {}: 1 removals exceed prune.max_removals (0)",
        env.store.display()
    );
    assert!(t.contains(&warning), "{t}");
    assert!(
        t.contains("WARNING: This change drops 1 names that hosts would remove, more than prune.max_removals (0)"),
        "{t}"
    );
    let out = env
        .imagectl()
        .args([
            "plan",
            "-f",
            strict.to_str().unwrap(),
            "--format",
            "markdown",
        ])
        .arg("--state")
        .arg(&report)
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("> [!WARNING]\n> - "), "{md}");
    assert!(
        md.contains("1 removals exceed prune.max_removals (0)"),
        "{md}"
    );
}

/// `plan --state` with a report that carries no store state names the file and what to
/// do, and exits 1.
#[test]
fn plan_state_without_state_is_refused() {
    let env = TestEnv::new();
    let policy = write(env.root.path(), "p.yaml", "version: 1\nimages: []\n");
    let report = write(env.root.path(), "old.json", "{\"version\": 1}");
    let out = env
        .imagectl()
        .args(["plan", "-f", policy.to_str().unwrap(), "--state"])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{} is not a run report", report.display())),
        "{}",
        text(&out)
    );
}

/// `validate --format github` prints one `::error file=…,line=…,col=…::` annotation per
/// problem, which GitHub shows on the policy's line in the pull request.
#[test]
fn validate_github_annotations() {
    let env = TestEnv::new();
    let policy = write(
        env.root.path(),
        "p.yaml",
        "version: 1\nimages:\n  - name: nginx\n    keep: 2\n    colour: red\n",
    );
    let out = env.run(&[
        "validate",
        "-f",
        policy.to_str().unwrap(),
        "--format",
        "github",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(!lines.is_empty(), "{}", text(&out));
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with(&format!("::error file={},line=", policy.display()))),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",line=5,col=5,title=imagectl%3A images[0].colour::")),
        "{stdout}"
    );
}

/// A change that drops an image a container uses on a reported Docker host is flagged,
/// naming the container, in the diff and in the plan against that host's report; the
/// report carries the in-use information from the Engine, and the plan from it equals the
/// plan against the Engine.
#[test]
fn dropping_an_image_a_reported_host_runs_is_a_warning() {
    use crate::support::docker::runnable_image;
    use crate::support::stores::{Kind, Under};
    let under = Under::new(Kind::DockerClassic);
    let reg = Registry::start();
    push_image_http(&reg, "demo/run", "1", &runnable_image("in-use"));
    push_image_http(&reg, "demo/other", "1", &app_image("o", MediaFormat::Oci));
    let dir = under.env.root.path();
    let policy = |repo: &str| {
        format!(
            "version: 1\nimages:\n  - name: {}\n    tags: [\"1\"]\nprune:\n  unmanaged: remove\n",
            reg.reference(repo)
        )
    };
    let old = write(dir, "old.yaml", &policy("demo/run"));
    let new = write(dir, "new.yaml", &policy("demo/other"));
    let report = dir.join("last-run.json");
    let old_s = old.to_str().unwrap();
    under.ok(&["apply", "-f", old_s, "--yes"]);
    under.docker().docker_ok(&[
        "create",
        "--name",
        "keeper",
        &reg.reference("demo/run:1"),
        "true",
    ]);
    under.ok(&[
        "apply",
        "-f",
        old_s,
        "--yes",
        "--report",
        report.to_str().unwrap(),
    ]);

    let out = under.run(&[
        "diff",
        old_s,
        new.to_str().unwrap(),
        "--state",
        report.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let v = json(&out);
    assert_eq!(
        v["hosts"][0]["in_use"],
        serde_json::json!([{ "name": reg.reference("demo/run:1"), "containers": ["keeper"] }])
    );
    let warning = format!(
        "{} is no longer wanted but container keeper uses it",
        reg.reference("demo/run:1")
    );
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains(&warning)),
        "{v:#}"
    );
    let out = under.run(&[
        "plan",
        "-f",
        new.to_str().unwrap(),
        "--state",
        report.to_str().unwrap(),
        "--format",
        "markdown",
    ]);
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("> [!WARNING]"), "{md}");
    assert!(md.contains(&warning), "{md}");

    // On a daemon too, the plan from the report is the plan from the store: the image
    // is protected for its container in both.
    let store_plan = json(&under.run(&["plan", "-f", new.to_str().unwrap(), "--format", "json"]));
    let state_plan = json(&under.run(&[
        "plan",
        "-f",
        new.to_str().unwrap(),
        "--state",
        report.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert_eq!(state_plan["hosts"][0]["plan"], store_plan);
    assert!(
        store_plan["protected"].to_string().contains("keeper"),
        "{store_plan:#}"
    );
}
