//! Crash safety: a pull killed with SIGKILL at any moment leaves a store that fsck passes,
//! skopeo reads, and the next pull completes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::cli::{imagectl_bin, skopeo_ok, store_refs};
use crate::support::fixtures::{self, ImageBuilder, Layer, MediaFormat};
use crate::support::{Registry, TestEnv};

/// Kill `imagectl pull` with SIGKILL at random moments (seed printed), check the store after
/// each kill, then pull to completion.
#[test]
fn pull_killed_at_random_moments_then_completes() {
    let reg = Registry::start();
    let mut builder = ImageBuilder::new().layer(fixtures::base_layer());
    for i in 0..4 {
        builder = builder.layer(Layer::random(&format!("data/{i}"), 6 << 20, 100 + i));
    }
    fixtures::push_image(&reg, &builder.build(), "demo/big:1", MediaFormat::Oci);
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
fn bytes_under(dir: &std::path::Path) -> u64 {
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

/// Loads killed with SIGKILL leave partial files behind; `df` counts them as reclaimable
/// on a line of their own, and the next writer removes them all (no `prune` needed).
#[test]
fn killed_loads_leave_nothing_after_the_next_writer() {
    let reg = Registry::start();
    let mut builder = ImageBuilder::new().layer(fixtures::base_layer());
    for i in 0..4 {
        builder = builder.layer(Layer::random(&format!("data/{i}"), 12 << 20, 200 + i));
    }
    fixtures::push_image(&reg, &builder.build(), "demo/big:1", MediaFormat::Oci);
    let r = reg.reference("demo/big:1");
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
    let tmp = env.store.join(".imagectl/tmp");
    let mut left = 0;
    for i in 0..12u64 {
        let mut child = std::process::Command::new(imagectl_bin())
            .arg("--store")
            .arg(&env.store)
            .args(["load", "-q", "-i", archive.to_str().unwrap()])
            .env("HOME", &env.home)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(60 + 40 * (i % 6)));
        let _ = child.kill();
        child.wait().unwrap();
        left = bytes_under(&tmp);
        if left > 0 {
            break;
        }
        if store_refs_if_any(&env.store).contains(&r) {
            std::fs::remove_dir_all(&env.store).unwrap();
        }
    }
    assert!(left > 0, "no kill landed mid-load: nothing to reclaim");
    let df: serde_json::Value = serde_json::from_slice(
        &env.imagectl()
            .args(["df", "--format", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
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
    let rest: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(rest.is_empty(), "left in .imagectl/tmp: {rest:?}");
    env.imagectl().arg("fsck").assert().success();
    assert_eq!(store_refs(&env.store), vec![r]);
}
