//! The everyday commands on a store filled by pull: images, tag, rmi, inspect, history, df, prune, fsck, completions.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::cli::{imagectl_bin, store_index, store_refs};
use crate::support::fixtures::{MediaFormat, Standard, base_layer, hex_of, sha256_digest};
use crate::support::output::{stderr, stdout};
use crate::support::{Registry, StoreProbe, TestEnv};

/// Runs `imagectl ARGS` in `env` and returns its output, whatever the exit code.
fn run(env: &TestEnv, args: &[&str]) -> Output {
    env.imagectl().args(args).output().unwrap()
}

/// Runs `imagectl ARGS` in `env`, asserts success and returns stdout.
fn ok(env: &TestEnv, args: &[&str]) -> String {
    let out = run(env, args);
    assert!(
        out.status.success(),
        "imagectl {args:?} failed ({:?}): {}{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Asserts a command failed with exit code 1 and one `error:` line on stderr; returns it.
fn fails_with_one_line(out: &Output, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: expected exit 1; stdout {} stderr {}",
        stdout(out),
        stderr(out)
    );
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: one line on stderr: {err:?}");
    assert!(lines[0].starts_with("error: "), "{what}: {err:?}");
    lines[0].to_string()
}

/// Sizes as docker prints them (`units.HumanSize`: SI units, three significant digits).
fn si(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[u])
}

/// An aligned table (columns separated by 3+ spaces) as rows of trimmed cells.
fn table(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

fn blob_path(store: &Path, digest: &str) -> PathBuf {
    store.join("blobs/sha256").join(hex_of(digest))
}

/// The 12-hex short image ID of a config digest.
fn short(digest: &str) -> String {
    hex_of(digest)[..12].to_string()
}

/// Runs `imagectl fsck` and asserts the store is sound.
fn assert_fsck_clean(env: &TestEnv) {
    let out = ok(env, &["fsck"]);
    assert!(out.contains("no problems"), "{out}");
}

/// A registry with `demo/app:1.0` (app-v1) and `demo/app:2.0` (app-v2, sharing the base
/// layer), both pulled into a fresh store.
struct Two {
    reg: Registry,
    fx: Standard,
    env: TestEnv,
    /// `127.0.0.1:PORT/demo/app:1.0`.
    r1: String,
    /// `127.0.0.1:PORT/demo/app:2.0`.
    r2: String,
    /// Manifest digests the registry serves for them.
    d1: String,
    d2: String,
}

fn two() -> Two {
    let reg = Registry::start();
    let fx = Standard::new();
    let d1 = fx.push(&reg, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    let d2 = fx.push(&reg, "app-v2", "demo/app:2.0", MediaFormat::Oci, false);
    // The stored manifests are the fixture's bytes, so the fixture's sizes are the store's.
    assert_eq!(d1, fx.app_v1.manifest_digest);
    assert_eq!(d2, fx.app_v2.manifest_digest);
    let env = TestEnv::new();
    let r1 = reg.reference("demo/app:1.0");
    let r2 = reg.reference("demo/app:2.0");
    ok(&env, &["pull", "-q", &r1, &r2]);
    Two {
        reg,
        fx,
        env,
        r1,
        r2,
        d1,
        d2,
    }
}

/// Makes app-v1 a dangling image: `demo/app:1.0` is re-pushed as app-v2 and pulled again.
fn make_v1_dangling(t: &Two) {
    t.fx.push(&t.reg, "app-v2", "demo/app:1.0", MediaFormat::Oci, false);
    ok(&t.env, &["pull", "-q", &t.r1]);
}

/// Writes `data` into `STORE/blobs/sha256/<its sha256>` (a blob no image references).
fn drop_blob(store: &Path, data: &[u8]) -> String {
    let digest = sha256_digest(data);
    fs::write(blob_path(store, &digest), data).unwrap();
    digest
}

/// `imagectl --store STORE` as a plain std command with an empty environment (besides
/// PATH, HOME and NO_COLOR), for processes that run in the background.
fn background(env: &TestEnv, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(imagectl_bin());
    cmd.env_clear()
        .env("HOME", &env.home)
        .env("NO_COLOR", "1")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("--store")
        .arg(&env.store)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// Waits up to `limit` for `child` to exit.
fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

mod first_contact;
mod images;
mod inspect;
mod json;
mod maintenance;
mod names;
mod snapshots;
