//! Crash safety: a pull killed with SIGKILL at any moment leaves a store that fsck passes,
//! skopeo reads, and the next pull completes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::cli::{imagectl_bin, kill_when, skopeo_ok, store_refs, succeeded};
use crate::support::fixtures::{self, MediaFormat};
use crate::support::{Registry, TestEnv};

/// Kill `imagectl pull` with SIGKILL at random moments (seed printed), check the store after
/// each kill, then pull to completion.
#[test]
fn pull_killed_at_random_moments_then_completes() {
    let reg = Registry::start();
    let big = fixtures::big_image("data", 4, 6 << 20, 100);
    fixtures::push_image(&reg, &big, "demo/big:1", MediaFormat::Oci);
    let r = reg.reference("demo/big:1");
    let env = TestEnv::new();

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("kill delays seeded with {seed}");
    let delays: Vec<u64> = (0..8)
        .map(|i| fixtures::pseudo_random(8, seed.wrapping_add(i))[0] as u64 * 300 / 255)
        .collect();
    for (i, delay) in delays.iter().enumerate() {
        let mut child = std::process::Command::new(imagectl_bin())
            .arg("--store")
            .arg(&env.store)
            .args(["pull", "-q", "--concurrency", "2", &r])
            .env("HOME", &env.home)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*delay));
        let _ = child.kill();
        child.wait().unwrap();

        if env.store.join("oci-layout").exists() {
            let out = env.imagectl().arg("fsck").output().unwrap();
            assert!(
                out.status.success(),
                "kill {i} after {delay} ms: fsck: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if store_refs(&env.store).contains(&r) {
                skopeo_ok(&["inspect", &format!("oci:{}:{r}", env.store.display())]);
            }
        }
        let count = |d: &str| {
            std::fs::read_dir(env.store.join(d))
                .map(|r| r.count())
                .unwrap_or(0)
        };
        println!(
            "kill {i} after {delay} ms: {} blobs, {} temporary files, image complete: {}",
            count("blobs/sha256"),
            count(".imagectl/tmp"),
            store_refs_if_any(&env.store).contains(&r)
        );
        if store_refs_if_any(&env.store).contains(&r) {
            // Completed before the kill: start over so later kills land mid-pull again.
            std::fs::remove_dir_all(&env.store).unwrap();
        }
    }

    env.imagectl().args(["pull", "-q", &r]).assert().success();
    env.imagectl().arg("fsck").assert().success();
    let out = tempfile::tempdir().unwrap();
    skopeo_ok(&[
        "copy",
        "--quiet",
        &format!("oci:{}:{r}", env.store.display()),
        &format!("dir:{}", out.path().join("x").display()),
    ]);
    // Leftovers of killed runs are only temporary files, which prune removes.
    env.imagectl().args(["prune", "-f"]).assert().success();
    let tmp = env.store.join(".imagectl/tmp");
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    env.imagectl().arg("fsck").assert().success();
    assert_eq!(store_refs(&env.store), vec![r]);
}

fn store_refs_if_any(store: &std::path::Path) -> Vec<String> {
    if store.join("index.json").exists() {
        store_refs(store)
    } else {
        Vec::new()
    }
}

/// Sum of the sizes of every file under `dir`, at any depth.
pub(crate) fn bytes_under(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => bytes_under(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Runs `imagectl ARGS` on `env` and kills it with SIGKILL as soon as it has written into
/// the store's temporary directory (a kill mid-write, however long the start took), leaving
/// partial files there; returns their bytes. A run that completed first is undone (the
/// store removed) and tried again.
fn kill_until_leftovers(env: &TestEnv, args: &[&str], done: &str) -> u64 {
    let tmp = env.store.join(".imagectl/tmp");
    for _ in 0..12 {
        let mut child = std::process::Command::new(imagectl_bin())
            .arg("--store")
            .arg(&env.store)
            .args(args)
            .env("HOME", &env.home)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        kill_when(&mut child, || bytes_under(&tmp) > 0);
        let left = bytes_under(&tmp);
        if left > 0 {
            return left;
        }
        if store_refs_if_any(&env.store).iter().any(|r| r == done) {
            std::fs::remove_dir_all(&env.store).unwrap();
        }
    }
    panic!("no kill of imagectl {args:?} landed mid-write: nothing to reclaim");
}

/// `df --format json`'s document.
pub(crate) fn df_json(env: &TestEnv) -> serde_json::Value {
    serde_json::from_slice(&env.run(&["df", "--format", "json"]).stdout).unwrap()
}

/// Pushes an image of 4 x `mib` MiB random layers; returns its reference.
fn big_image(reg: &Registry, mib: usize, seed: u64) -> String {
    let big = fixtures::big_image("data", 4, mib << 20, seed);
    fixtures::push_image(reg, &big, "demo/big:1", MediaFormat::Oci);
    reg.reference("demo/big:1")
}

/// Nothing is left in the store's temporary directory.
pub(crate) fn assert_no_leftovers(env: &TestEnv) {
    let rest: Vec<_> = std::fs::read_dir(env.store.join(".imagectl/tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(rest.is_empty(), "left in .imagectl/tmp: {rest:?}");
}

/// Loads killed with SIGKILL leave partial files behind; `df` counts them as reclaimable
/// on a line of their own, and the next writer removes them all (no `prune` needed).
#[test]
fn killed_loads_leave_nothing_after_the_next_writer() {
    let reg = Registry::start();
    let r = big_image(&reg, 12, 200);
    let source = TestEnv::new();
    source
        .imagectl()
        .args(["pull", "-q", &r])
        .assert()
        .success();
    let archive = source.root.path().join("big.tar");
    source
        .imagectl()
        .args(["save", "-o", archive.to_str().unwrap(), &r])
        .assert()
        .success();

    let env = TestEnv::new();
    let left = kill_until_leftovers(&env, &["load", "-q", "-i", archive.to_str().unwrap()], &r);
    let df = df_json(&env);
    assert_eq!(df["Leftovers"].as_u64(), Some(left), "{df}");
    assert!(df["Reclaimable"].as_u64().unwrap() >= left, "{df}");
    let text = env.imagectl().arg("df").output().unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("Leftovers of interrupted writes"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    // The next writer (a load to completion) removes them; it leaves nothing of its own.
    env.imagectl()
        .args(["load", "-q", "-i", archive.to_str().unwrap()])
        .assert()
        .success();
    assert_no_leftovers(&env);
    env.imagectl().arg("fsck").assert().success();
    assert_eq!(store_refs(&env.store), vec![r]);
}

/// Pulls killed mid-download leave partial blobs; `df` counts them, and the next pull
/// removes them and leaves nothing of its own.
#[test]
fn killed_pulls_leave_nothing_after_the_next_writer() {
    let reg = Registry::start();
    let r = big_image(&reg, 12, 300);
    let env = TestEnv::new();
    let left = kill_until_leftovers(&env, &["pull", "-q", &r], &r);
    assert_eq!(df_json(&env)["Leftovers"].as_u64(), Some(left));
    env.imagectl().args(["pull", "-q", &r]).assert().success();
    assert_no_leftovers(&env);
    assert_eq!(df_json(&env)["Leftovers"].as_u64(), Some(0));
    env.imagectl().arg("fsck").assert().success();
    assert_eq!(store_refs(&env.store), vec![r]);
}

/// With `prune: { dangling: true }` the plan lists what killed runs left, and apply removes
/// it and counts it in what it reclaimed, even when the store holds every wanted image.
#[test]
fn apply_with_prune_dangling_removes_and_reports_leftovers() {
    let reg = Registry::start();
    let r = big_image(&reg, 12, 400);
    let env = TestEnv::new();
    env.imagectl().args(["pull", "-q", &r]).assert().success();
    // Kill pulls into a second store, then move its partial files into this one's
    // temporary directory: what a killed run of this store would have left.
    let other = TestEnv::new();
    let left = kill_until_leftovers(&other, &["pull", "-q", &r], &r);
    let tmp = env.store.join(".imagectl/tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    for e in std::fs::read_dir(other.store.join(".imagectl/tmp")).unwrap() {
        let e = e.unwrap();
        std::fs::rename(e.path(), tmp.join(e.file_name())).unwrap();
    }
    let policy = env.write_policy(&format!(
        "version: 1\nimages:\n  - name: {}\n    tags: [\"1\"]\nprune:\n  dangling: true\n",
        reg.reference("demo/big")
    ));
    let plan = env.run(&["plan", "-f", policy.to_str().unwrap()]);
    let plan = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert!(
        plan.contains("- prune   temporary files of killed imagectl runs (frees"),
        "{plan}"
    );
    let out = env.run(&[
        "apply",
        "--yes",
        "--format",
        "json",
        "-f",
        policy.to_str().unwrap(),
    ]);
    let doc: serde_json::Value = serde_json::from_str(&succeeded(&out)).unwrap();
    assert_eq!(
        doc["report"]["bytes_reclaimed"].as_u64(),
        Some(left),
        "{doc}"
    );
    assert_no_leftovers(&env);
    env.imagectl().arg("fsck").assert().success();
    assert_eq!(store_refs(&env.store), vec![r]);
}
