//! A real Docker engine (`dockerd` from Debian `docker.io`, 20.10) per test: vfs storage, no
//! networking set-up, its data root, exec root and API socket in a short temp dir, talked to
//! with the `docker` client of the same package.
//!
//! [`DockerdBuilder::containerd_store`] starts a newer engine instead (Debian trixie's dockerd
//! 26 with the containerd image store, overlayfs snapshotter): `scripts/engines.sh` unpacks it
//! into a cache dir, nothing is installed; its own client talks to it.
//!
//! ```ignore
//! let d = Dockerd::start();
//! d.docker_ok(&["load", "-i", archive]);
//! assert_eq!(d.image_id("demo/app:1.0"), fx.config_digest);
//! ```
//!
//! The daemon (and the containerd it started) is stopped by PID when the [`Dockerd`] is
//! dropped; whatever it left mounted under its temp dir is unmounted before the dir goes.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::fixtures::{ImageBuilder, Layer, sha256_digest};

/// The client shipped with the daemon: the newer engine's own for a daemon started from
/// `engine` (the system's 20.10 client is too old for it), else the system's (a newer `docker`
/// earlier in `PATH` may not speak API 1.41), falling back to whatever `docker` is in `PATH`.
fn docker_client(engine: Option<&Path>) -> PathBuf {
    if let Some(engine) = engine {
        engine.join("usr/bin/docker")
    } else if Path::new("/usr/bin/docker").exists() {
        PathBuf::from("/usr/bin/docker")
    } else {
        super::tools::locate("docker").unwrap_or_else(|line| panic!("{line}"))
    }
}

/// The newer engine's root (`usr/sbin/dockerd`, `usr/bin/{docker,containerd,…}`): the last
/// line `scripts/engines.sh` prints, run once per test process (it fetches only when the
/// cache dir lacks the binaries). Panics with the script's last error line when it fails.
pub(super) fn engine_dir() -> &'static Path {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/engines.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: cannot run bash: {e}", script.display()))?;
        let last = |b: &[u8]| {
            let text = String::from_utf8_lossy(b);
            text.lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap_or("")
                .to_string()
        };
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}): {}",
                script.display(),
                out.status,
                last(&out.stderr)
            ));
        }
        let dir = PathBuf::from(last(&out.stdout));
        if !dir.join("usr/sbin/dockerd").is_file() {
            return Err(format!(
                "{} printed {:?}, which has no usr/sbin/dockerd",
                script.display(),
                dir
            ));
        }
        Ok(dir)
    });
    match dir {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    }
}

/// Variables neither the daemon nor the client may inherit.
fn scrub(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("DOCKER_")
            || k.starts_with("IMAGECTL_")
            || k.to_ascii_lowercase().ends_with("_proxy")
        {
            cmd.env_remove(k.as_ref());
        }
    }
}

/// Options for a daemon; build one with [`Dockerd::builder`].
#[derive(Debug, Default, Clone)]
pub struct DockerdBuilder {
    insecure_registries: Vec<String>,
    containerd_store: bool,
}

impl DockerdBuilder {
    /// `--insecure-registry HOST` (loopback registries are insecure for dockerd anyway, but
    /// saying so keeps the test independent of that default).
    pub fn insecure_registry(mut self, host: &str) -> Self {
        self.insecure_registries.push(host.to_string());
        self
    }

    /// The newer engine (dockerd 26 from `scripts/engines.sh`'s cache dir) with the containerd
    /// image store (`features.containerd-snapshotter`, the overlayfs snapshotter): image IDs
    /// are manifest digests there. Its containerd, shim and docker-init come from that dir;
    /// runc is the system's when the newer one cannot run on this libc.
    pub fn containerd_store(mut self) -> Self {
        self.containerd_store = true;
        self
    }

    /// Starts the daemon and waits until `docker info` answers. Panics on failure.
    pub fn start(self) -> Dockerd {
        // Unix socket paths must stay under 108 bytes: a short dir directly in /tmp.
        let dir = tempfile::Builder::new()
            .prefix("ictl-dk-")
            .tempdir_in("/tmp")
            .expect("temp dir for dockerd");
        let root = dir.path().to_path_buf();
        let sock = root.join("s");
        let exec_root = root.join("e");
        let data_root = root.join("d");
        let config = root.join("cfg");
        fs::create_dir_all(&config).unwrap();
        let log = fs::File::create(root.join("dockerd.log")).unwrap();
        let engine = self.containerd_store.then(engine_dir);
        let mut cmd = match engine {
            None => crate::support::tools::tool("dockerd"),
            Some(engine) => {
                // dockerd finds containerd, the shim and docker-init by PATH.
                let mut path = std::ffi::OsString::from(engine.join("usr/bin"));
                path.push(":");
                path.push(engine.join("usr/sbin"));
                if let Some(old) = std::env::var_os("PATH") {
                    path.push(":");
                    path.push(old);
                }
                let mut cmd = Command::new(engine.join("usr/sbin/dockerd"));
                cmd.env("PATH", path);
                cmd
            }
        };
        cmd.args([
            // The containerd snapshotter: `native` would be its copying one (`vfs` is not).
            if engine.is_some() {
                "--storage-driver=overlayfs"
            } else {
                "--storage-driver=vfs"
            },
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
        ])
        .arg("--data-root")
        .arg(&data_root)
        .arg("--exec-root")
        .arg(&exec_root)
        .arg("--pidfile")
        .arg(root.join("p"))
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .arg("--config-file")
        .arg(root.join("daemon.json"));
        for host in &self.insecure_registries {
            cmd.arg("--insecure-registry").arg(host);
        }
        let daemon_json = if engine.is_some() {
            r#"{"features": {"containerd-snapshotter": true}}"#
        } else {
            "{}"
        };
        fs::write(root.join("daemon.json"), daemon_json).unwrap();
        scrub(&mut cmd);
        cmd.env("DOCKER_CONFIG", &config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = cmd
            .spawn()
            .expect("cannot run dockerd (Debian package docker.io)");
        let mut d = Dockerd {
            child: Some(child),
            dir: Some(dir),
            root,
            sock,
            client: docker_client(engine),
            containerd_store: engine.is_some(),
        };
        d.wait_ready();
        d
    }
}

/// A running `dockerd`; stopped on drop.
pub struct Dockerd {
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    sock: PathBuf,
    /// The `docker` client matching this daemon.
    client: PathBuf,
    containerd_store: bool,
}

impl Dockerd {
    /// A daemon with default options.
    pub fn start() -> Dockerd {
        Dockerd::builder().start()
    }

    pub fn builder() -> DockerdBuilder {
        DockerdBuilder::default()
    }

    /// Whether this daemon keeps images in containerd (see
    /// [`DockerdBuilder::containerd_store`]) rather than the classic store.
    pub fn is_containerd_store(&self) -> bool {
        self.containerd_store
    }

    /// `unix:///tmp/ictl-dk-…/s`, for `docker -H` and `imagectl --docker`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    /// The daemon's temp dir (data root `d/`, exec root `e/`, `dockerd.log`).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join("dockerd.log")).unwrap_or_default()
    }

    /// `docker -H unix://SOCK` with a scrubbed environment and a private client config.
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new(&self.client);
        scrub(&mut cmd);
        cmd.env("DOCKER_CONFIG", self.root.join("cfg"))
            .arg("-H")
            .arg(self.host());
        cmd
    }

    /// Runs `docker ARGS`; returns its output, whatever the exit status.
    pub fn docker_out(&self, args: &[&str]) -> Output {
        self.docker()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    /// Runs `docker ARGS`, asserts success and returns stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker_out(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `docker load -i FILE`; returns stdout (`Loaded image: …` lines).
    pub fn load(&self, archive: &Path) -> String {
        self.docker_ok(&["load", "-i", &archive.display().to_string()])
    }

    /// `docker save -o FILE IMAGES...`.
    pub fn save(&self, archive: &Path, images: &[&str]) {
        let mut args = vec!["save", "-o"];
        let file = archive.display().to_string();
        args.push(&file);
        args.extend_from_slice(images);
        self.docker_ok(&args);
    }

    /// `docker image inspect -f {{.Id}} IMAGE`.
    pub fn image_id(&self, image: &str) -> String {
        self.docker_ok(&["image", "inspect", "-f", "{{.Id}}", image])
            .trim()
            .to_string()
    }

    /// `docker image inspect IMAGE` as JSON (the one object).
    pub fn inspect(&self, image: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&self.docker_ok(&["image", "inspect", image])).unwrap();
        v[0].clone()
    }

    /// The `REPOSITORY:TAG` of every image, sorted (untagged ones left out).
    pub fn repo_tags(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .lines()
            .filter(|l| !l.contains("<none>"))
            .map(String::from)
            .collect();
        v.sort();
        v
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("dockerd exited with {status}: {}", self.log());
            }
            if self.sock.exists() {
                // The newer client prints an empty ID and exits 0 while the daemon is not
                // answering yet: wait for the ID itself.
                let out = self.docker().args(["info", "-f", "{{.ID}}"]).output();
                if matches!(out, Ok(o) if o.status.success() && !o.stdout.trim_ascii().is_empty()) {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!("dockerd not ready after 60s: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM by PID, up to 20 s for a clean exit, then SIGKILL; then the containerd it
    /// started (if still alive; both engines write its PID to `e/containerd/containerd.pid`),
    /// the shims of containers still running then, and every mount left under the temp dir.
    fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
        let pidfile = self.root.join("e/containerd/containerd.pid");
        if let Ok(pid) = fs::read_to_string(&pidfile) {
            let pid = pid.trim();
            if !pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        kill_leftover_shims(&self.root.join("e/containerd/containerd.sock"));
        unmount_under(&self.root);
    }
}

/// SIGTERM by PID, up to 20 s for a clean exit, then SIGKILL.
pub(super) fn terminate(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => break,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The last 30 lines of a daemon's log, for a failed test's output.
pub(super) fn print_log_tail(what: &str, log: &str) {
    let lines: Vec<&str> = log.lines().collect();
    let tail = &lines[lines.len().saturating_sub(30)..];
    eprintln!(
        "--- {what} log (last {} lines) ---\n{}",
        tail.len(),
        tail.join("\n")
    );
}

/// Lazily unmounts every mount point under `root`, deepest first (overlay snapshots, shm).
pub(super) fn unmount_under(root: &Path) {
    let mut mounts = String::new();
    if let Ok(mut f) = fs::File::open("/proc/self/mounts") {
        let _ = f.read_to_string(&mut mounts);
    }
    let prefix = root.display().to_string();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount").args(["-l", p]).status();
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            print_log_tail(&format!("dockerd {}", self.host()), &self.log());
        }
        self.stop();
        if let Some(dir) = self.dir.take() {
            // vfs leaves read-only dirs behind sometimes; a failed removal must not fail the
            // test (the dir is in /tmp).
            let _ = fs::remove_dir_all(dir.path());
            let _ = dir.close();
        }
    }
}

/// A daemon that had to be SIGKILLed leaves the shims of running containers behind, and their
/// containers with them (a shim is a subreaper: its containers outlive it). Kills, by PID,
/// every `containerd-shim*` whose command line names this daemon's containerd socket, and the
/// shims' children (the containers' init processes) first.
pub(super) fn kill_leftover_shims(containerd_sock: &Path) {
    let needle = containerd_sock.display().to_string();
    let Ok(procs) = fs::read_dir("/proc") else {
        return;
    };
    // (pid, ppid, is one of this daemon's shims)
    let mut table = Vec::new();
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let shim = cmdline.contains("containerd-shim") && cmdline.contains(&needle);
        // /proc/PID/stat: "PID (COMM) STATE PPID …"; COMM may hold spaces and parentheses.
        let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        table.push((pid, ppid, shim));
    }
    let shims: Vec<u32> = table.iter().filter(|t| t.2).map(|t| t.0).collect();
    let children = table
        .iter()
        .filter(|t| t.1.is_some_and(|pp| shims.contains(&pp)))
        .map(|t| t.0);
    for pid in children.chain(shims.iter().copied()) {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

/// A layer with Debian's static busybox as `/bin/busybox` and `/bin/true`, `/bin/sh` as
/// symlinks to it: enough for `docker run --rm IMAGE true`. Panics when `/bin/busybox` is
/// missing (Debian package busybox-static; scripts/test.sh installs it).
pub fn busybox_layer() -> Layer {
    let path = super::tools::locate("/bin/busybox").unwrap_or_else(|line| panic!("{line}"));
    let busybox = fs::read(path).expect("reading /bin/busybox");
    let mut builder = tar::Builder::new(Vec::new());
    let mut dir = tar_header(tar::EntryType::Directory, 0o755, 0);
    builder
        .append_data(&mut dir, "bin/", std::io::empty())
        .unwrap();
    let mut file = tar_header(tar::EntryType::Regular, 0o755, busybox.len() as u64);
    builder
        .append_data(&mut file, "bin/busybox", busybox.as_slice())
        .unwrap();
    for applet in ["true", "sh"] {
        let mut link = tar_header(tar::EntryType::Symlink, 0o777, 0);
        builder
            .append_link(&mut link, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let blob = gz.finish().unwrap();
    Layer {
        digest: sha256_digest(&blob),
        diff_id: sha256_digest(&tar),
        size: blob.len() as u64,
        uncompressed_size: tar.len() as u64,
        blob,
        files: vec![("bin/busybox".into(), busybox)],
    }
}

/// A runnable image: the busybox layer plus a small layer of its own, `CMD ["true"]`.
pub fn runnable_image(tag_note: &str) -> super::fixtures::FixtureImage {
    ImageBuilder::new()
        .layer(busybox_layer())
        .layer(Layer::from_files(&[(
            "etc/note".to_string(),
            format!("{tag_note}\n"),
        )]))
        .cmd(&["true"])
        .build()
}

fn tar_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(1_704_067_200);
    h.set_uid(0);
    h.set_gid(0);
    h
}
