//! The external programs the tests drive, found on PATH before they run: a missing one fails
//! the test with one line naming it and what installs it, not an opaque `NotFound`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian package of each program the tests run.
const PACKAGES: &[(&str, &str)] = &[
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("umoci", "umoci"),
    ("podman", "podman"),
    ("htpasswd", "apache2-utils"),
    ("openssl", "openssl"),
    ("dockerd", "docker.io"),
    ("containerd", "containerd"),
    ("ctr", "containerd"),
    ("docker", "docker.io"),
    ("busybox", "busybox-static"),
    ("time", "time"),
    ("script", "bsdutils"),
    ("unshare", "util-linux"),
    ("kubernetes-validate", "pip:kubernetes-validate"),
    ("python3", "python3"),
];

/// `Command::new(name)` for an external tool, after checking it is installed.
pub fn tool(name: &str) -> Command {
    match locate(name) {
        Ok(path) => Command::new(path),
        Err(line) => panic!("{line}"),
    }
}

/// The tool's path (a bare name is looked up on PATH), or the one line a test fails with.
pub fn locate(name: &str) -> Result<PathBuf, String> {
    let found = if name.contains('/') {
        Some(PathBuf::from(name)).filter(|p| is_executable(p))
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| is_executable(p))
        })
    };
    found.ok_or_else(|| {
        let base = Path::new(name)
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_string());
        let package = PACKAGES
            .iter()
            .find(|(tool, _)| *tool == base)
            .map(|(_, package)| *package)
            .unwrap_or(base.as_str());
        let install = match package.strip_prefix("pip:") {
            Some(p) => format!("python3 -m pip install {p}"),
            None => format!("apt-get install {package}"),
        };
        format!(
            "`{name}` is not installed, and this test runs it: run scripts/test.sh (it installs what the tests need), or `{install}`"
        )
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A missing tool is named in one line together with the package that installs it.
#[test]
fn missing_tool_names_itself_and_its_package() {
    let line = locate("podman-not-here").unwrap_err();
    assert!(
        line.contains("`podman-not-here` is not installed"),
        "{line}"
    );
    assert!(line.contains("scripts/test.sh"), "{line}");
    assert!(!line.contains('\n'), "{line}");
    // A known tool, looked up as if PATH lacked it, names its Debian package.
    let line = locate("/nonexistent/htpasswd").unwrap_err();
    assert!(line.contains("apt-get install apache2-utils"), "{line}");
    assert!(locate("sh").is_ok());
}

/// `podman ARGS` with its own vfs storage under `dir` (no daemon, no system state); stdout of
/// a run that must succeed.
pub fn podman(dir: &Path, args: &[&str]) -> String {
    let out = tool("podman")
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args([
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
        ])
        .args(args)
        .env("HOME", dir)
        .output()
        .expect("start podman");
    super::output::stdout_ok_as(&out, &format!("podman {}", args.join(" ")))
}
