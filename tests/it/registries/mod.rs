//! Per-registry configuration against real registries: mirrors (a pull-through cache,
//! a stopped one, one without the repository, one with a path prefix, one serving wrong
//! bytes), TLS (private CA, tls_verify, client certificates), credentials (config file,
//! Docker credential helpers) and malformed config files.

mod config;
mod mirrors;
mod tls;

use std::path::{Path, PathBuf};

use crate::support::TestEnv;

/// Writes `yaml` as `registries.yaml` in the env's root and returns its path.
pub fn write_config(env: &TestEnv, yaml: &str) -> PathBuf {
    let path = env.root.path().join("registries.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `imagectl --config FILE ARGS...` in `env`: (success, stdout, stderr).
pub fn run_with_config(env: &TestEnv, config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = env
        .imagectl()
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.code().is_none() {
        // Say so in the text the assertions print: a signal leaves stderr empty.
        use std::os::unix::process::ExitStatusExt;
        stderr.push_str(&format!(
            "[imagectl killed by signal {:?}]",
            out.status.signal()
        ));
    }
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

/// The lines of `text` that are log warnings or errors.
pub fn problem_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.contains("WARN") || l.starts_with("error"))
        .collect()
}
