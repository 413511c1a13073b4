//! Every writer killed with SIGKILL at random moments (seed printed), many times: the store
//! passes fsck after each kill, a re-run converges, and the next writer leaves nothing in
//! temporary space. Pulls and loads are covered in `crash`; here apply (with removals and
//! replication), copy and `save -o`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::crash::{assert_no_leftovers, df_json};
use crate::support::cli::{imagectl_bin, kill_when, store_refs, succeeded};
use crate::support::fixtures::{self, FixtureImage, ImageBuilder, Layer, push_image_http};
use crate::support::{Registry, TestEnv};

/// `n` kill delays spread over how long a whole run took (so kills land mid-run on a fast
/// machine and a slow one alike), from a seed taken from the clock and printed.
fn delays(n: u64, whole: Duration) -> Vec<u64> {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let ms = whole.as_millis() as u64;
    println!("kill delays over {ms} ms seeded with {seed}");
    (0..n)
        .map(|i| 5 + fixtures::pseudo_random(8, seed.wrapping_add(i))[0] as u64 * ms / 255)
        .collect()
}

/// Runs `imagectl ARGS` on `env` to success; how long it took.
fn timed(env: &TestEnv, args: &[&str]) -> Duration {
    let start = Instant::now();
    succeeded(&env.imagectl().args(args).output().unwrap());
    start.elapsed()
}

/// Replaces `env`'s store with a copy of `pristine`.
fn restore(env: &TestEnv, pristine: &Path) {
    std::fs::remove_dir_all(&env.store).unwrap();
    copy_dir(pristine, &env.store);
}

/// `cp -a FROM TO`.
fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(ok.success(), "cp -a {}", from.display());
}

/// Starts `imagectl --store STORE ARGS` and kills it after `delay` ms; whether it was
/// still running then (a kill that landed), not finished or failed.
fn kill_after(env: &TestEnv, args: &[&str], delay: u64) -> bool {
    let mut child = spawn(env, args);
    std::thread::sleep(Duration::from_millis(delay));
    let running = match child.try_wait().unwrap() {
        None => true,
        Some(status) => {
            println!("imagectl {args:?} ended before the kill after {delay} ms: {status}");
            false
        }
    };
    let _ = child.kill();
    child.wait().unwrap();
    running
}

/// Starts `imagectl --store STORE ARGS`, its output discarded.
fn spawn(env: &TestEnv, args: &[&str]) -> Child {
    Command::new(imagectl_bin())
        .arg("--store")
        .arg(&env.store)
        .args(args)
        .env("HOME", &env.home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// `imagectl fsck` passes (when the store exists yet).
fn assert_sound(env: &TestEnv, what: &str) {
    if !env.store.join("oci-layout").exists() {
        return;
    }
    let out = env.imagectl().arg("fsck").output().unwrap();
    assert!(
        out.status.success(),
        "{what}: fsck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A distinct image for `version` with a 3 MiB random layer, so a pull takes a while.
fn versioned(version: &str, seed: u64) -> FixtureImage {
    ImageBuilder::new()
        .layer(fixtures::base_layer())
        .layer(Layer::random("app/data.bin", 3 << 20, seed))
        .label("version", version)
        .build()
}

/// apply with pulls, removals (keep: 2 of 5 held) and replication, killed at random
/// moments: fsck passes after each kill, the next apply converges (a plan then finds
/// nothing to do, and the replica holds exactly the kept tags), and no leftovers remain.
/// Each run starts from the same store and replicates under a new prefix, so every run
/// has all of that work to do.
#[test]
fn apply_killed_anywhere_converges() {
    let src = Registry::start();
    let dst = Registry::start();
    let versions = ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0"];
    for (i, v) in versions.iter().enumerate() {
        push_image_http(&src, "team/app", v, &versioned(v, 500 + i as u64));
    }
    let env = TestEnv::new();
    // The store holds the five oldest, so the apply removes three and pulls one.
    for v in &versions[..5] {
        let r = src.reference(&format!("team/app:{v}"));
        succeeded(&env.run(&["pull", "-q", &r]));
    }
    let pristine = env.root.path().join("pristine");
    copy_dir(&env.store, &pristine);
    let policy = |prefix: &str| {
        let path = env.root.path().join(format!("{prefix}.yaml"));
        std::fs::write(
            &path,
            format!(
                "version: 1\nimages:\n  - name: {}/team/app\n    semver: \">=1\"\n    keep: 2\nprune:\n  dangling: true\nreplicate:\n  - to: {}/{prefix}\n",
                src.host(),
                dst.host()
            ),
        )
        .unwrap();
        path.to_str().unwrap().to_string()
    };
    let whole = timed(&env, &["apply", "--yes", "-f", &policy("measure")]);
    restore(&env, &pristine);
    let mut landed = 0;
    let mut last = String::new();
    for (i, delay) in delays(10, whole).into_iter().enumerate() {
        last = policy(&format!("mirror{i}"));
        if kill_after(&env, &["apply", "--yes", "-f", &last], delay) {
            landed += 1;
            assert_sound(&env, &format!("kill {i} after {delay} ms"));
        } else {
            restore(&env, &pristine);
        }
    }
    assert!(landed > 0, "no kill landed mid-apply");
    succeeded(&env.run(&["apply", "--yes", "-f", &last]));
    let again = env.run(&["plan", "--detailed-exitcode", "-f", &last]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "converged: {}",
        String::from_utf8_lossy(&again.stdout)
    );
    let mut kept = store_refs(&env.store);
    kept.sort();
    assert_eq!(
        kept,
        vec![
            src.reference("team/app:1.4.0"),
            src.reference("team/app:1.5.0")
        ]
    );
    for v in ["1.4.0", "1.5.0"] {
        assert_eq!(
            dst.manifest_digest("mirror9/team/app", v),
            src.manifest_digest("team/app", v),
            "replica of {v}"
        );
    }
    assert_sound(&env, "after the converging apply");
    // A converged apply may have had nothing to write (a killed run did it all), and a run
    // killed between making its writer directory and filling it leaves an empty one: no
    // space is lost, and the next write to the store removes it.
    let df = df_json(&env);
    assert_eq!(df["Leftovers"].as_u64(), Some(0), "{df}");
    let kept = src.reference("team/app:1.5.0");
    succeeded(&env.run(&["tag", &kept, "local/app:kept"]));
    assert_no_leftovers(&env);
}

/// copy between registries killed at random moments: the re-run completes with the
/// source's digest at the target.
#[test]
fn copy_killed_anywhere_then_completes() {
    let src = Registry::start();
    let dst = Registry::start();
    let big = fixtures::big_image("d", 3, 6 << 20, 600);
    push_image_http(&src, "team/big", "1", &big);
    let from = src.reference("team/big:1");
    let env = TestEnv::new();
    let whole = timed(&env, &["copy", &from, &dst.reference("measure/big:1")]);
    // Each run copies into a repository of its own: all of the upload to do.
    let mut landed = 0;
    for (i, delay) in delays(8, whole).into_iter().enumerate() {
        let to = dst.reference(&format!("copy{i}/big:1"));
        landed += usize::from(kill_after(&env, &["copy", &from, &to], delay));
    }
    assert!(landed > 0, "no kill landed mid-copy");
    for i in 0..8 {
        let to = dst.reference(&format!("copy{i}/big:1"));
        succeeded(&env.run(&["copy", &from, &to]));
        assert_eq!(
            dst.manifest_digest(&format!("copy{i}/big"), "1"),
            src.manifest_digest("team/big", "1")
        );
    }
}

/// `save -o` killed at random moments never leaves a file at the final name unless the
/// save completed; the next save removes the killed saves' temporary files, and its
/// archive loads back.
#[test]
fn save_killed_anywhere_leaves_no_partial_archive() {
    let reg = Registry::start();
    let big = fixtures::big_image("d", 4, 8 << 20, 700);
    push_image_http(&reg, "team/big", "1", &big);
    let r = reg.reference("team/big:1");
    let env = TestEnv::new();
    succeeded(&env.run(&["pull", "-q", &r]));
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("big.tar");
    let t = target.to_str().unwrap();
    let whole = timed(&env, &["save", "-o", t, &r]);
    let complete = std::fs::metadata(&target).unwrap().len();
    std::fs::remove_file(&target).unwrap();
    let mut partial_seen = false;
    // Random kills, and last one as soon as the temporary file is there: sure to land
    // mid-save however the measured run compares with these.
    let kills = delays(10, whole).into_iter().map(Some).chain([None]);
    for (i, delay) in kills.enumerate() {
        let args = ["save", "-o", t, &r];
        match delay {
            Some(delay) => _ = kill_after(&env, &args, delay),
            None => {
                _ = kill_when(&mut spawn(&env, &args), || {
                    std::fs::read_dir(out_dir.path()).unwrap().count() > 0
                })
            }
        }
        if let Ok(m) = std::fs::metadata(&target) {
            assert_eq!(
                m.len(),
                complete,
                "kill {i}: a partial archive at the final name"
            );
            std::fs::remove_file(&target).unwrap();
        }
        partial_seen |= std::fs::read_dir(out_dir.path()).unwrap().count() > 0;
    }
    assert!(partial_seen, "no kill landed mid-save");
    succeeded(&env.run(&["save", "-o", t, &r]));
    let names: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["big.tar".to_string()]);
    let other = TestEnv::new();
    succeeded(&other.run(&["load", "-q", "-i", t]));
    assert_eq!(store_refs(&other.store), vec![r]);
    assert_sound(&other, "the loaded store");
}
