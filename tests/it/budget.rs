//! `prune.max_disk` against a real registry: over the budget, apply evicts the least
//! recently pulled image the policy does not want, only as much as needed, and the next run
//! is a no-op.

use std::path::Path;

use crate::support::cli::succeeded as ok;
use crate::support::fixtures::{MediaFormat, app_image, push_image_http};
use crate::support::{Registry, TestEnv};

/// Bytes of every blob in the store, as `df` would count them.
fn store_bytes(store: &Path) -> u64 {
    std::fs::read_dir(store.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn names(env: &TestEnv) -> Vec<String> {
    let mut n = crate::support::cli::store_refs(&env.store);
    n.sort();
    n
}

/// Two unmanaged images pulled by hand, one wanted by the policy; a budget one byte under
/// the store's size evicts the older hand-pulled image and nothing else.
#[test]
fn max_disk_evicts_the_least_recently_pulled_unwanted_image() {
    let reg = Registry::start();
    for repo in ["demo/old", "demo/newer", "demo/app"] {
        push_image_http(&reg, repo, "1", &app_image(repo, MediaFormat::Oci));
    }
    let env = TestEnv::new();
    for repo in ["demo/old", "demo/newer"] {
        ok(&env.run(&["pull", "-q", &format!("{}:1", reg.reference(repo))]));
    }
    let policy = env.root.path().join("policy.yaml");
    let write = |budget: &str| {
        std::fs::write(
            &policy,
            format!(
                "version: 1\nimages:\n  - name: {}\n    tags: [\"1\"]\nprune:\n  dangling: true\n{budget}",
                reg.reference("demo/app")
            ),
        )
        .unwrap()
    };
    let p = policy.to_str().unwrap();
    write("");
    ok(&env.run(&["apply", "--yes", "-f", p]));
    let full = store_bytes(&env.store);
    assert_eq!(names(&env).len(), 3);

    write(&format!("  max_disk: {}\n", full - 1));
    let out = ok(&env.run(&["plan", "-f", p]));
    assert!(out.contains("least recently used"), "{out}");
    assert!(out.contains("1 image evicted"), "{out}");
    let out = ok(&env.run(&["apply", "--yes", "-f", p]));
    assert_eq!(
        names(&env),
        [
            format!("{}:1", reg.reference("demo/app")),
            format!("{}:1", reg.reference("demo/newer")),
        ],
        "{out}"
    );
    assert!(store_bytes(&env.store) < full, "{out}");
    env.imagectl().arg("fsck").assert().success();

    // Within the budget now: nothing more goes.
    let out = ok(&env.run(&["apply", "--yes", "-f", p]));
    assert!(out.contains("No changes"), "{out}");
    assert!(out.contains("(prune.max_disk)"), "{out}");
    assert_eq!(names(&env).len(), 2);

    // A budget nothing but the wanted image could meet: the rest goes, the wanted one stays,
    // and the plan says the store still does not fit.
    write("  max_disk: 1\n");
    let out = ok(&env.run(&["apply", "--yes", "-f", p]));
    assert!(out.contains("exceeds prune.max_disk (1B)"), "{out}");
    assert_eq!(
        names(&env),
        [format!("{}:1", reg.reference("demo/app"))],
        "{out}"
    );
}
