//! Running the built `imagectl` binary (and skopeo as an independent reader) in an
//! environment isolated from the host: no Docker config, no `IMAGECTL_*`, no proxies, a
//! private `HOME`.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;

/// Environment variables removed from every command (besides every `IMAGECTL_*`).
const SCRUBBED: &[&str] = &[
    "DOCKER_CONFIG",
    "DOCKER_HOST",
    "REGISTRY_AUTH_FILE",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
    "RUST_LOG",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
];

/// The `$TMPDIR` of the host a `HOME` stands for (`HOME/tmp`). A daemon backend stages
/// imports in `$TMPDIR/imagectl-staging`, and a run reports what killed runs left there:
/// with the machine's one `/tmp`, a kill test's leftovers showed in another test's plan.
fn host_tmp(home: &Path) -> PathBuf {
    let tmp = home.join("tmp");
    std::fs::create_dir_all(&tmp).expect("create HOME/tmp");
    tmp
}

/// Path of the built binary.
pub fn imagectl_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_imagectl"))
}

/// A fresh, empty `HOME` below cargo's per-target temp dir (kept; `cargo clean` removes it).
fn fresh_home() -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("homes");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::Builder::new()
        .prefix("home-")
        .tempdir_in(base)
        .unwrap()
        .keep()
}

/// `imagectl --store STORE` with a scrubbed environment, `HOME` in a fresh temp dir and
/// `NO_COLOR=1`. Add the subcommand and its arguments.
pub fn imagectl(store: &Path) -> Command {
    imagectl_with_home(store, &fresh_home())
}

/// Like [`imagectl`] with a given `HOME` (e.g. one with `.docker/config.json`).
pub fn imagectl_with_home(store: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(imagectl_bin());
    for k in scrubbed_vars() {
        cmd.env_remove(k);
    }
    cmd.env("HOME", home)
        .env("TMPDIR", host_tmp(home))
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1")
        .arg("--store")
        .arg(store);
    cmd
}

/// A temp dir holding a store path (not created: imagectl creates it) and a `HOME`, for tests
/// that run several commands against one store.
pub struct TestEnv {
    pub root: tempfile::TempDir,
    pub store: PathBuf,
    pub home: PathBuf,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let root = tempfile::Builder::new()
            .prefix("imagectl-it-")
            .tempdir()
            .unwrap();
        let store = root.path().join("store");
        let home = root.path().join("home");
        // Made now, so that snapshots of the env taken before a first command have it.
        host_tmp(&home);
        TestEnv { root, store, home }
    }

    /// `imagectl --store STORE` with this env's `HOME`.
    pub fn imagectl(&self) -> Command {
        imagectl_with_home(&self.store, &self.home)
    }

    /// Runs `imagectl ARGS` on this env's store, whatever the exit code.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.imagectl().args(args).output().expect("start imagectl")
    }

    /// `imagectl save --format oci --referrers -o ARCHIVE IMAGE`, whatever the exit code:
    /// the air-gap step the referrer tests share.
    pub fn save_referrers(&self, archive: &Path, image: &str) -> std::process::Output {
        let archive = archive.to_str().expect("UTF-8 temp path");
        self.run(&[
            "save",
            "--format",
            "oci",
            "--referrers",
            "-o",
            archive,
            image,
        ])
    }

    /// Writes `HOME/.docker/config.json` granting basic auth `user:pass` for `host`.
    pub fn docker_login(&self, host: &str, user: &str, pass: &str) {
        let dir = self.home.join(".docker");
        std::fs::create_dir_all(&dir).unwrap();
        let auth = super::http::base64_encode(format!("{user}:{pass}").as_bytes());
        let config = serde_json::json!({ "auths": { host: { "auth": auth } } });
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
    }

    /// Writes the policy file `ROOT/policy.yaml` and returns its path. The file is replaced
    /// atomically, as a git checkout or a ConfigMap update does, so a running
    /// `imagectl run` never reads half of it.
    pub fn write_policy(&self, yaml: &str) -> PathBuf {
        let path = self.root.path().join("policy.yaml");
        let tmp = self.root.path().join(".policy.yaml.tmp");
        std::fs::write(&tmp, yaml).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }

    /// The store's `index.json`.
    pub fn store_index(&self) -> serde_json::Value {
        store_index(&self.store)
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        TestEnv::new()
    }
}

/// stdout then stderr of a finished `imagectl`, asserting it succeeded (the text is the
/// failure message otherwise).
pub fn succeeded(out: &std::process::Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

/// Parsed `STORE/index.json`.
pub fn store_index(store: &Path) -> serde_json::Value {
    let bytes = std::fs::read(store.join("index.json")).expect("read STORE/index.json");
    serde_json::from_slice(&bytes).expect("parse STORE/index.json")
}

/// The `org.opencontainers.image.ref.name` values in an OCI layout's `index.json`.
pub fn store_refs(store: &Path) -> Vec<String> {
    store_index(store)["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["annotations"][super::fixtures::REF_NAME].as_str())
        .map(String::from)
        .collect()
}

/// `skopeo --insecure-policy ARGS...` with the same scrubbed environment.
pub fn skopeo() -> StdCommand {
    let mut cmd = crate::support::tools::tool("skopeo");
    for k in scrubbed_vars() {
        cmd.env_remove(k);
    }
    cmd.arg("--insecure-policy");
    cmd
}

/// Runs skopeo, asserts success and returns stdout.
pub fn skopeo_ok(args: &[&str]) -> String {
    let out = skopeo().args(args).output().expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `skopeo inspect oci:STORE:REFERENCE` as JSON: skopeo reading imagectl's store.
pub fn skopeo_inspect_store(store: &Path, reference: &str) -> serde_json::Value {
    let src = format!("oci:{}:{reference}", store.display());
    serde_json::from_str(&skopeo_ok(&["inspect", &src])).unwrap()
}

/// `skopeo inspect --raw oci:STORE:REFERENCE`: the manifest bytes as stored.
pub fn skopeo_raw_manifest_in_store(store: &Path, reference: &str) -> Vec<u8> {
    let src = format!("oci:{}:{reference}", store.display());
    let out = skopeo()
        .args(["inspect", "--raw", &src])
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo inspect --raw {src}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The variables of this process that commands must not inherit.
fn scrubbed_vars() -> Vec<String> {
    std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .filter(|k| k.starts_with("IMAGECTL_") || SCRUBBED.contains(&k.as_str()))
        .collect()
}

/// [`imagectl_with_home`] as a `std::process::Command`, for a long-running `imagectl run`
/// the test signals and waits for.
pub fn imagectl_process(store: &Path, home: &Path) -> StdCommand {
    let mut cmd = StdCommand::new(imagectl_bin());
    for k in scrubbed_vars() {
        cmd.env_remove(k);
    }
    cmd.env("HOME", home)
        .env("TMPDIR", host_tmp(home))
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1")
        .arg("--store")
        .arg(store);
    cmd
}

/// Kills `child` with SIGKILL as soon as `cond` holds (polled every 5 ms, for up to 60 s),
/// so a kill lands at a chosen stage of the run however slowly a loaded machine starts it;
/// whether `cond` held while the child was still running. A child that ended first, or
/// never got there, is reaped and `false` returned.
pub fn kill_when(child: &mut std::process::Child, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let landed = loop {
        if cond() {
            break child.try_wait().unwrap().is_none();
        }
        if child.try_wait().unwrap().is_some() || std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let _ = child.kill();
    child.wait().unwrap();
    landed
}
