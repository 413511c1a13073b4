//! What `plan` says removals free is what `apply` then reclaims, and what `df` sees go,
//! when the removed images share layers with each other and with an image that stays.

use crate::support::fixtures::{ImageBuilder, Layer, MediaFormat, base_layer, push_image_http};
use crate::support::output::text as out_text;
use crate::support::{Registry, TestEnv};

/// `df --format json`'s total bytes of `env`'s store.
fn store_bytes(env: &TestEnv) -> u64 {
    let out = env.run(&["df", "--format", "json"]);
    assert!(out.status.success(), "{}", out_text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["TotalSize"].as_u64().expect("df reports TotalSize")
}

/// A policy keeping the newest `keep` semver tags of `repo`.
fn keep(repo: &str, keep: usize) -> String {
    format!("version: 1\nimages:\n  - name: {repo}\n    semver: \">=1.0.0\"\n    keep: {keep}\n")
}

/// Two removed images sharing a layer (and the base with the kept one): the plan's `remove`
/// bytes sum to `apply`'s `bytes_reclaimed` and to the drop in `df`'s total, the layer
/// the removed pair shares counted once and the base the kept image needs not at all.
#[test]
fn plan_frees_what_apply_reclaims_with_shared_layers() {
    let reg = Registry::start();
    let shared = Layer::random("opt/shared.bin", 64 * 1024, 7);
    for (minor, layers) in [
        (0, vec![base_layer(), shared.clone()]),
        (1, vec![base_layer(), shared.clone()]),
        (2, vec![base_layer()]),
    ] {
        let version = format!("1.{minor}.0");
        let mut b = ImageBuilder::new()
            .format(MediaFormat::Oci)
            .label("org.opencontainers.image.version", &version);
        for l in layers {
            b = b.layer(l);
        }
        let own = Layer::random("app/own.bin", 4 * 1024 + minor, 100 + minor as u64);
        push_image_http(&reg, "demo/app", &version, &b.layer(own).build());
    }
    let env = TestEnv::new();
    let repo = reg.reference("demo/app");
    let all = env.write_policy(&keep(&repo, 3));
    let out = env.run(&["apply", "-f", all.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", out_text(&out));

    let one = env.write_policy(&keep(&repo, 1));
    let p = one.to_str().unwrap();
    let out = env.run(&["plan", "-f", p, "--json"]);
    assert!(out.status.success(), "{}", out_text(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let removes: Vec<&serde_json::Value> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "remove")
        .collect();
    assert_eq!(removes.len(), 2, "{plan}");
    let planned: u64 = removes.iter().map(|a| a["bytes"].as_u64().unwrap()).sum();

    let before = store_bytes(&env);
    let out = env.run(&["apply", "-f", p, "--yes", "--json"]);
    assert!(out.status.success(), "{}", out_text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reclaimed = report["report"]["bytes_reclaimed"].as_u64().unwrap();
    let dropped = before - store_bytes(&env);
    assert_eq!(
        (planned, reclaimed),
        (dropped, dropped),
        "plan's frees, apply's reclaimed, df's drop: {plan}\n{report}"
    );
    assert!(
        planned > shared.size,
        "the shared layer is among the freed bytes: {plan}"
    );
}
