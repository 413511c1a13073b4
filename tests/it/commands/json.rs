//! `--format json` on every command that reports what it did: one JSON document on stdout
//! in the shapes the README documents, errors still on stderr.

use serde_json::Value;

use super::{make_v1_dangling, ok, run, two};
use crate::support::{Registry, TestEnv};

/// Runs `imagectl ARGS` (which must succeed) and parses all of stdout as one JSON document.
fn json(env: &TestEnv, args: &[&str]) -> Value {
    let out = ok(env, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// pull, tag, rmi, save/load, fsck and prune report in JSON, with the IDs and digests the
/// store holds.
#[test]
fn image_commands_report_json() {
    let t = two();
    let v = json(&t.env, &["pull", "--format", "json", &t.r1]);
    assert_eq!(v["images"][0]["reference"], t.r1);
    assert_eq!(v["images"][0]["digest"], t.d1);
    assert_eq!(v["images"][0]["up_to_date"], true);
    assert_eq!(v["failures"], serde_json::json!([]));
    let id = v["images"][0]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sha256:"), "{v}");

    let v = json(&t.env, &["tag", "--format", "json", &t.r1, "local/x:1"]);
    assert_eq!(v["target"], "docker.io/local/x:1");
    assert_eq!(v["id"], id);
    let v = json(&t.env, &["rmi", "--format", "json", "local/x:1"]);
    assert_eq!(
        v["deleted"],
        serde_json::json!([{ "Untagged": "docker.io/local/x:1" }])
    );

    let file = t.env.root.path().join("one.tar");
    ok(&t.env, &["save", "-o", file.to_str().unwrap(), &t.r1]);
    let fresh = TestEnv::new();
    let v = json(
        &fresh,
        &["load", "--format", "json", "-i", file.to_str().unwrap()],
    );
    assert_eq!(v["loaded"][0]["name"], t.r1);
    assert_eq!(v["loaded"][0]["id"], id);

    let v = json(&t.env, &["fsck", "--format", "json"]);
    assert_eq!(v["problems"], serde_json::json!([]));
    assert_eq!(v["images"], 2);
    assert!(v["blobs"].as_u64().unwrap() >= 4, "{v}");

    make_v1_dangling(&t);
    let v = json(&t.env, &["prune", "-f", "--format", "json"]);
    assert_eq!(v["ImagesDeleted"], serde_json::json!([{ "Deleted": id }]));
    assert!(v["SpaceReclaimed"].as_u64().unwrap() > 0, "{v}");
}

/// validate and config check report every problem with its position; copy and push
/// report the digest sent; plan and apply take `--format json` as `--json`.
#[test]
fn policy_and_registry_commands_report_json() {
    let t = two();
    let root = t.env.root.path();
    let bad = root.join("bad.yaml");
    std::fs::write(
        &bad,
        "version: 1\nimages:\n  - name: demo/app\n    keep: -1\n",
    )
    .unwrap();
    let out = run(
        &t.env,
        &["validate", "--format", "json", "-f", bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"][0]["line"], 4, "{v}");
    assert_eq!(v["errors"][0]["key"], "images[0].keep", "{v}");

    let cfg = root.join("registries.yaml");
    std::fs::write(
        &cfg,
        "registries:\n  \"example.test\": { insecure: true }\n",
    )
    .unwrap();
    let v = json(
        &t.env,
        &["config", "check", "--format", "json", cfg.to_str().unwrap()],
    );
    assert_eq!(v["ok"], true);
    assert_eq!(v["registries"], 1);

    let dst = t.reg.reference("demo/copy:1");
    let v = json(&t.env, &["copy", "--format", "json", &t.r1, &dst]);
    assert_eq!(v["digest"], t.d1);
    assert_eq!(v["target"], dst);
    let dst = t.reg.reference("demo/pushed:1");
    let v = json(&t.env, &["push", "--format", "json", &t.r2, &dst]);
    assert_eq!(v["target"], dst);
    assert!(v["digest"].as_str().unwrap().starts_with("sha256:"), "{v}");

    let fresh = TestEnv::new();
    let policy = fresh.write_policy(&format!(
        "version: 1\nimages:\n  - name: {}\n    tags: [\"1.0\"]\n",
        t.reg.reference("demo/app")
    ));
    let p = policy.to_str().unwrap();
    let v = json(&fresh, &["plan", "--format", "json", "-f", p]);
    assert_eq!(v["actions"][0]["action"], "pull");
    let v = json(&fresh, &["apply", "--format", "json", "--yes", "-f", p]);
    assert_eq!(v["report"]["pulled"][0], t.r1);
}

/// login and logout say where the credentials went and came from.
#[test]
fn login_reports_json() {
    let reg = Registry::builder().htpasswd("ci", "s3cret").start();
    let env = TestEnv::new();
    let out = env
        .imagectl()
        .args([
            "login",
            "--format",
            "json",
            "-u",
            "ci",
            "--password-stdin",
            &reg.host(),
        ])
        .write_stdin("s3cret\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["registry"], reg.host());
    assert_eq!(v["username"], "ci");
    let file = v["stored_in"]["file"].as_str().unwrap().to_string();
    assert!(file.ends_with(".docker/config.json"), "{v}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret"));
    let v = json(&env, &["logout", "--format", "json", &reg.host()]);
    assert_eq!(v["removed_from"]["file"], file);
    let v = json(&env, &["logout", "--format", "json", &reg.host()]);
    assert_eq!(v["removed_from"], Value::Null);
}
