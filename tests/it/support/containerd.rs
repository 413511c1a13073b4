//! A private containerd with the CRI plugin, on its own root, state and socket: Debian 12's
//! 1.6 (`/usr/bin/containerd`, a dependency of docker.io), trixie's 1.7 (`scripts/engines.sh`)
//! or sid's 2.x (`scripts/engines.sh sid`; both unpacked into a cache dir, never installed). The CRI images and runtime services
//! answer on the same socket; kubelet and crictl are not installable here, so tests make
//! CRI calls through imagectl and `ctr`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::docker::{kill_leftover_shims, print_log_tail, terminate, unmount_under};

/// Which containerd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// Debian 12's 1.6 (config version 2, CRI plugin `io.containerd.grpc.v1.cri`).
    V16,
    /// Debian trixie's 1.7 (the same configuration; CRI marks pinned images).
    V17,
    /// Debian sid's 2.x (config version 3, CRI images plugin `io.containerd.cri.v1.images`).
    V2,
}

/// The root of sid's unpacked packages (`usr/bin/containerd`, `ctr`, the shim, `oras`).
pub fn sid_dir() -> &'static Path {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/engines.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("sid")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        match stdout.lines().last() {
            Some(last) if out.status.success() => Ok(PathBuf::from(last.trim())),
            _ => Err(format!(
                "scripts/engines.sh sid failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            )),
        }
    });
    match dir {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    }
}

/// A running containerd; stopped (and its mounts and shims cleaned up) on drop.
pub struct Containerd {
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    version: Version,
}

impl Containerd {
    /// Starts `version` and waits until `ctr version` answers. Panics on failure.
    pub fn start(version: Version) -> Containerd {
        // Socket paths must stay under 108 bytes: a short dir directly in /tmp.
        let dir = tempfile::Builder::new()
            .prefix("ictl-ctd-")
            .tempdir_in("/tmp")
            .expect("temp dir for containerd");
        let root = dir.path().to_path_buf();
        fs::create_dir_all(root.join("certs.d")).unwrap();
        fs::write(root.join("config.toml"), config(version, &root)).unwrap();
        let log = fs::File::create(root.join("containerd.log")).unwrap();
        let mut cmd = match version {
            Version::V16 => super::tools::tool("containerd"),
            Version::V17 | Version::V2 => {
                let bin = match version {
                    Version::V17 => super::docker::engine_dir().join("usr/bin"),
                    _ => sid_dir().join("usr/bin"),
                };
                let mut cmd = Command::new(bin.join("containerd"));
                // The daemon finds its shim by PATH.
                let mut path = std::ffi::OsString::from(&bin);
                if let Some(old) = std::env::var_os("PATH") {
                    path.push(":");
                    path.push(old);
                }
                cmd.env("PATH", path);
                cmd
            }
        };
        cmd.arg("--config")
            .arg(root.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = cmd.spawn().expect("cannot run containerd");
        let mut c = Containerd {
            child: Some(child),
            dir: Some(dir),
            root,
            version,
        };
        c.wait_ready();
        c
    }

    /// Which containerd this is.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The socket path (what `--store containerd:PATH` takes).
    pub fn address(&self) -> String {
        self.root.join("c.sock").display().to_string()
    }

    /// `--store` spelling for imagectl.
    pub fn store(&self) -> String {
        format!("containerd:{}", self.address())
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join("containerd.log")).unwrap_or_default()
    }

    /// `ctr -a SOCK -n k8s.io` of the same version as the daemon.
    pub fn ctr(&self) -> Command {
        let mut cmd = match self.version {
            Version::V16 => super::tools::tool("ctr"),
            Version::V17 => Command::new(super::docker::engine_dir().join("usr/bin/ctr")),
            Version::V2 => Command::new(sid_dir().join("usr/bin/ctr")),
        };
        cmd.args(["-a", &self.address(), "-n", "k8s.io"]);
        cmd
    }

    /// `ctr run --rm IMAGE ID ARGS…` with runc's state under this daemon's own root rather
    /// than the host-wide `/run/containerd/runc/<namespace>`, which every containerd on the
    /// host shares: tests running a container of one ID on two daemons at once (the
    /// versions' variants in parallel, or two suites) would otherwise collide ("container
    /// with given ID already exists").
    pub fn ctr_run(&self, image: &str, id: &str, args: &[&str]) -> std::process::Output {
        let runc_root = self.root.join("runc");
        self.ctr()
            .args([
                "run",
                "--rm",
                "--runc-root",
                runc_root.to_str().unwrap(),
                image,
                id,
            ])
            .args(args)
            .output()
            .unwrap()
    }

    /// `ctr ARGS`, asserting success; returns stdout.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        let out = self.ctr().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "ctr {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every image record name in k8s.io, sorted (`ctr images ls -q`).
    pub fn records(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .ctr_ok(&["images", "ls", "-q"])
            .lines()
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    /// Lets CRI pulls (the kubelet's path) reach a plain-HTTP registry: a `hosts.toml`
    /// under the CRI `config_path`.
    pub fn trust_plain_http(&self, host: &str) {
        let dir = self.root.join("certs.d").join(host);
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("hosts.toml"),
            format!(
                "server = \"http://{host}\"\n\n[host.\"http://{host}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            ),
        )
        .unwrap();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("containerd exited ({status}): {}", self.log());
            }
            let ok = self
                .ctr()
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok && self.log().contains("containerd successfully booted") {
                return;
            }
            if Instant::now() > deadline {
                panic!("containerd not ready after 60s: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
        kill_leftover_shims(&self.root.join("c.sock"));
        unmount_under(&self.root);
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            print_log_tail(&format!("containerd {}", self.address()), &self.log());
        }
        self.stop();
        if let Some(dir) = self.dir.take() {
            let _ = fs::remove_dir_all(dir.path());
            let _ = dir.close();
        }
    }
}

/// The daemon's configuration: its own root, state, sockets and `opt` dir, the overlayfs
/// snapshotter for CRI, `certs.d` for hosts.toml, and no plugin that wants host devices.
fn config(version: Version, root: &Path) -> String {
    let r = root.display();
    let common = format!(
        "root = '{r}/root'\nstate = '{r}/state'\n\n[grpc]\n  address = '{r}/c.sock'\n\n[ttrpc]\n  address = '{r}/c.sock.ttrpc'\n\n"
    );
    match version {
        Version::V16 | Version::V17 => format!(
            "version = 2\n{common}disabled_plugins = ['io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.zfs', 'io.containerd.snapshotter.v1.aufs']\n\n\
[plugins]\n  [plugins.'io.containerd.grpc.v1.cri']\n    sandbox_image = 'registry.k8s.io/pause:3.6'\n    disable_tcp_service = true\n    stream_server_address = '127.0.0.1'\n    stream_server_port = '0'\n    [plugins.'io.containerd.grpc.v1.cri'.containerd]\n      snapshotter = 'overlayfs'\n    [plugins.'io.containerd.grpc.v1.cri'.registry]\n      config_path = '{r}/certs.d'\n  [plugins.'io.containerd.internal.v1.opt']\n    path = '{r}/opt'\n"
        ),
        Version::V2 => format!(
            "version = 3\n{common}disabled_plugins = ['io.containerd.nri.v1.nri', 'io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.zfs', 'io.containerd.snapshotter.v1.blockfile', 'io.containerd.snapshotter.v1.erofs']\n\n\
[plugins]\n  [plugins.'io.containerd.cri.v1.images']\n    snapshotter = 'overlayfs'\n    [plugins.'io.containerd.cri.v1.images'.pinned_images]\n      sandbox = 'registry.k8s.io/pause:3.10'\n    [plugins.'io.containerd.cri.v1.images'.registry]\n      config_path = '{r}/certs.d'\n  [plugins.'io.containerd.internal.v1.opt']\n    path = '{r}/opt'\n  [plugins.'io.containerd.grpc.v1.cri']\n    disable_tcp_service = true\n    stream_server_address = '127.0.0.1'\n    stream_server_port = '0'\n"
        ),
    }
}
