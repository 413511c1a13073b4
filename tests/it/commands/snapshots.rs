//! What an operator reads, pinned as snapshots (tests/it/snapshots/it__commands__snapshots__*):
//! the tables of `images`, `df` and `history`, a plan and `apply`'s summary, and the one-line
//! errors of the common mistakes. A change to any of them shows up as a snapshot diff in review.

use super::*;
use crate::support::fixtures::{app_image, push_image_http};

/// Digests, registry ports, times and temp paths vary per run, and so do ages: filtered
/// as in review.rs, but what sits in a table column is replaced by a placeholder of its
/// width, so the snapshots show the columns aligned as the user sees them (loopback
/// registries listen on 5-digit ephemeral ports; the fixtures were built in 2024).
fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"sha256:[0-9a-f]{64}", "[DIGEST]"),
        (r"\b[0-9a-f]{12}\b", "[SHORT ID12]"),
        (r"127\.0\.0\.1:\d{5}\b", "[REGISTRY:PORT]"),
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:[\d.]+(Z|[+-]\d\d:\d\d)",
            "[TIME]",
        ),
        (r"(/[\w.-]+)*/imagectl-it-\w+", "[TMP]"),
        (r"\b\d years ago\b", "N years ago"),
    ]
}

/// `imagectl ARGS` as the user sees it: stdout, then stderr, then a non-zero exit code.
fn shown(env: &TestEnv, args: &[&str]) -> String {
    let out = run(env, args);
    let mut text = stdout(&out);
    let err = stderr(&out);
    if !err.is_empty() {
        text.push_str("--- stderr\n");
        text.push_str(&err);
    }
    if !out.status.success() {
        text.push_str(&format!("--- exit {:?}\n", out.status.code()));
    }
    text
}

/// Asserts `text` against the snapshot `name`, filtered.
fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ filters => filters() }, {
        insta::assert_snapshot!(name, text);
    });
}

/// A store holding `demo/app:1.0`, a registry serving 1.0 and 3.0, and a policy that wants
/// 3.0 (a pull) also named `local/app:stable` (a tag) and removes what it does not declare
/// (1.0: a removal). Returns the env, the registry (kept running) and the policy's path.
fn pull_tag_remove() -> (TestEnv, Registry, String) {
    let reg = Registry::start();
    let fx = Standard::new();
    fx.push(&reg, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    push_image_http(&reg, "demo/app", "3.0", &app_image("3.0", MediaFormat::Oci));
    let env = TestEnv::new();
    ok(&env, &["pull", "-q", &reg.reference("demo/app:1.0")]);
    let repo = reg.reference("demo/app");
    let policy = env.root.path().join("policy.yaml");
    fs::write(
        &policy,
        format!(
            "version: 1\nimages:\n  - name: {repo}\n    tags: [\"3.0\"]\n    also_tag: [\"local/app:stable\"]\nprune:\n  unmanaged: remove\n"
        ),
    )
    .unwrap();
    (env, reg, policy.display().to_string())
}

/// `images`: docker's columns, one aligned row per name.
#[test]
fn images_table() {
    let t = two();
    snapshot("images", &shown(&t.env, &["images"]));
}

/// `plan` lists the pull, the tag and the removal with the reason and the bytes involved.
#[test]
fn plan_of_a_pull_a_tag_and_a_removal() {
    let (env, _reg, policy) = pull_tag_remove();
    snapshot("plan", &shown(&env, &["plan", "-f", &policy]));
}

/// `apply`'s summary of the same plan: what it pulled, tagged and removed, and the totals.
#[test]
fn apply_summary() {
    let (env, _reg, policy) = pull_tag_remove();
    // Stdout only: the per-blob progress lines on stderr come in download order, which
    // varies from run to run.
    snapshot("apply", &ok(&env, &["apply", "-f", &policy, "--yes"]));
}

/// `df` and `df -v`: the summary row and the per-image table of bytes used and reclaimable.
#[test]
fn df_and_df_verbose() {
    let t = two();
    snapshot("df", &shown(&t.env, &["df"]));
    snapshot("df_verbose", &shown(&t.env, &["df", "-v"]));
}

/// `history`: one row per config history entry, newest first, the image ID on the first
/// row and `<missing>` below it, as docker prints them.
#[test]
fn history_table() {
    let t = two();
    snapshot("history", &shown(&t.env, &["history", &t.r1]));
}

/// The error lines of the common mistakes: an unknown image for rmi, inspect and save, a
/// registry nobody listens on, and a policy with a key that does not exist.
#[test]
fn error_lines() {
    let t = two();
    let archive = t.env.root.path().join("out.tar").display().to_string();
    snapshot("rmi_unknown", &shown(&t.env, &["rmi", "nope:1"]));
    snapshot("inspect_unknown", &shown(&t.env, &["inspect", "nope:1"]));
    snapshot(
        "save_unknown",
        &shown(&t.env, &["save", "-o", &archive, "nope:1"]),
    );
    let refusing = crate::support::registry::dead_port();
    let port = refusing.port();
    let unreachable = format!("127.0.0.1:{port}/demo/app:1.0");
    snapshot("pull_unreachable", &shown(&t.env, &["pull", &unreachable]));
    let policy = t.env.root.path().join("bad.yaml");
    fs::write(
        &policy,
        "version: 1\nimages:\n  - name: nginx\n    tags: [\"1.25\"]\n    kepe: 3\n",
    )
    .unwrap();
    let policy = policy.display().to_string();
    snapshot(
        "validate_malformed",
        &shown(&t.env, &["validate", "-f", &policy]),
    );
}
