//! A real CNCF distribution registry (`docker-registry serve`, Debian package
//! `docker-registry`) on a free loopback port, with its storage and logs in a temp dir.
//!
//! The process is killed by PID when the [`Registry`] is dropped. Its access log
//! (stdout) lets a test count the requests a command made:
//!
//! ```ignore
//! let reg = Registry::start();
//! let mark = reg.mark();
//! imagectl(&store).args(["pull", &reference]).assert().success();
//! assert_eq!(reg.count_since(mark, "GET", "/blobs/"), 2);
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod access_log;
mod api;

pub use access_log::{LogMark, Request};
#[allow(unused_imports)]
pub use api::ACCEPT_MANIFESTS;

use access_log::{count, parse_access_line};

use super::http::{self, Basic};
use super::tls::{Pki, https_get_status, make_pki};

/// The query parameter of the probe requests this module makes to sync with the access log;
/// lines carrying it are left out of every count.
const PROBE: &str = "it-support-probe=";

static PROBE_SEQ: AtomicU64 = AtomicU64::new(0);

/// Options for a registry; build one with [`Registry::builder`].
#[derive(Debug, Default, Clone)]
pub struct RegistryBuilder {
    htpasswd: Option<(String, String)>,
    proxy_remote: Option<String>,
    proxy_credentials: Option<(String, String)>,
    extra_yaml: Vec<String>,
    deletes_disabled: bool,
    tls: bool,
    client_certs: bool,
    storage: Option<PathBuf>,
}

impl RegistryBuilder {
    /// Turn `storage.delete.enabled` off (it is on by default here): DELETEs get 405.
    pub fn deletes_disabled(mut self) -> Self {
        self.deletes_disabled = true;
        self
    }

    /// Require basic auth (`auth: htpasswd:`) with this one user.
    pub fn htpasswd(mut self, user: &str, pass: &str) -> Self {
        self.htpasswd = Some((user.to_string(), pass.to_string()));
        self
    }

    /// Make this registry a read-only pull-through cache of `url` (e.g. `http://127.0.0.1:PORT`).
    pub fn proxy_remote(mut self, url: &str) -> Self {
        self.proxy_remote = Some(url.to_string());
        self
    }

    /// Credentials the pull-through cache uses towards its remote.
    pub fn proxy_credentials(mut self, user: &str, pass: &str) -> Self {
        self.proxy_credentials = Some((user.to_string(), pass.to_string()));
        self
    }

    /// Serve HTTPS (`http.tls`) with a certificate for 127.0.0.1/localhost signed by a
    /// fresh test CA ([`Registry::pki`] has its files).
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Serve HTTPS and require a client certificate signed by the test CA
    /// (`http.tls.clientcas`).
    pub fn require_client_cert(mut self) -> Self {
        self.tls = true;
        self.client_certs = true;
        self
    }

    /// Serve the storage of another registry (e.g. a plain one tests pushed to), so a
    /// TLS or authenticated registry needs no push of its own.
    pub fn storage_of(mut self, other: &Registry) -> Self {
        self.storage = Some(other.storage_dir());
        self
    }

    /// Appends raw top-level YAML to the config (e.g. a `notifications:` section).
    pub fn extra_yaml(mut self, yaml: &str) -> Self {
        self.extra_yaml.push(yaml.to_string());
        self
    }

    /// Starts the registry and waits until it answers `GET /v2/`. Panics on failure.
    pub fn start(self) -> Registry {
        let mut last_err = String::new();
        // A port picked by binding :0 can in theory be taken again before the registry binds
        // it; retry with a fresh port when the registry did not come up as ours.
        for _ in 0..5 {
            match Registry::try_start(&self) {
                Ok(r) => return r,
                Err(e) => last_err = e,
            }
        }
        panic!("docker-registry did not start: {last_err}");
    }
}

/// A running `docker-registry serve` on `127.0.0.1:PORT`.
pub struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    auth: Option<Basic>,
    pki: Option<(Pki, bool)>,
}

impl Registry {
    /// Starts an anonymous registry with default options.
    pub fn start() -> Registry {
        Registry::builder().start()
    }

    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    fn try_start(opts: &RegistryBuilder) -> Result<Registry, String> {
        let dir = tempfile::Builder::new()
            .prefix("imagectl-it-registry-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let port = free_port();
        let storage = match &opts.storage {
            Some(s) => s.clone(),
            None => dir.path().join("storage"),
        };
        fs::create_dir_all(&storage).map_err(|e| e.to_string())?;

        let mut yaml = format!(
            "version: 0.1\n\
             log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: {delete}\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: imagectl-it-secret\n",
            storage = storage.display(),
            delete = !opts.deletes_disabled,
        );
        let mut pki = None;
        if opts.tls {
            let p = make_pki(&dir.path().join("pki"))?;
            yaml.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                p.server_cert.display(),
                p.server_key.display()
            ));
            if opts.client_certs {
                yaml.push_str(&format!("    clientcas:\n      - {}\n", p.ca.display()));
            }
            pki = Some((p, opts.client_certs));
        }
        let mut auth = None;
        if let Some((user, pass)) = &opts.htpasswd {
            let file = dir.path().join("htpasswd");
            let out = crate::support::tools::tool("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .map_err(|e| format!("htpasswd (apache2-utils) not runnable: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "htpasswd failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            fs::write(&file, &out.stdout).map_err(|e| e.to_string())?;
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: imagectl-it\n    path: {}\n",
                file.display()
            ));
            auth = Some(Basic {
                user: user.clone(),
                pass: pass.clone(),
            });
        }
        if let Some(remote) = &opts.proxy_remote {
            yaml.push_str(&format!("proxy:\n  remoteurl: {remote}\n"));
            if let Some((user, pass)) = &opts.proxy_credentials {
                yaml.push_str(&format!("  username: {user}\n  password: {pass}\n"));
            }
        }
        for extra in &opts.extra_yaml {
            yaml.push_str(extra);
            if !extra.ends_with('\n') {
                yaml.push('\n');
            }
        }
        let config = dir.path().join("config.yml");
        fs::write(&config, yaml).map_err(|e| e.to_string())?;

        let access = fs::File::create(dir.path().join("access.log")).map_err(|e| e.to_string())?;
        let errlog =
            fs::File::create(dir.path().join("registry.log")).map_err(|e| e.to_string())?;
        let mut cmd = crate::support::tools::tool("docker-registry");
        cmd.arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(access)
            .stderr(errlog);
        // Environment variables named REGISTRY_* override the config file.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd.spawn().map_err(|e| {
            format!("cannot run docker-registry (Debian package docker-registry): {e}")
        })?;
        let mut reg = Registry {
            child,
            port,
            dir,
            auth,
            pki,
        };
        reg.wait_ready()?;
        Ok(reg)
    }

    /// Polls `GET /v2/` until this process (not some other one on the port) answers it.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("registry exited with {status}: {}", self.log()));
            }
            if self.probe(Duration::from_millis(500)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("registry not ready after 20s: {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a uniquely tagged `GET /v2/?PROBE` and waits up to `timeout` for it to show up
    /// in this registry's access log. Returns whether it did.
    fn probe(&self, timeout: Duration) -> bool {
        let tag = format!(
            "{PROBE}{}-{}",
            std::process::id(),
            PROBE_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let target = format!("/v2/?{tag}");
        let status = match &self.pki {
            Some((pki, client)) => https_get_status(&self.host(), &target, pki, *client),
            None => http::request(&self.host(), "GET", &target, &[], None, &[])
                .ok()
                .map(|r| r.status),
        };
        if !matches!(status, Some(200 | 401)) {
            return false;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if self.access_log().contains(&tag) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// "127.0.0.1:PORT".
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// "http://127.0.0.1:PORT" (for a pull-through cache's `remoteurl`), or https:// for a
    /// TLS registry.
    pub fn url(&self) -> String {
        let scheme = if self.pki.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// The certificates of a TLS registry ([`RegistryBuilder::tls`]).
    pub fn pki(&self) -> &Pki {
        &self.pki.as_ref().expect("registry started with .tls()").0
    }

    /// The OS process id of the registry.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// "127.0.0.1:PORT/REPO" or "127.0.0.1:PORT/REPO:TAG" style references.
    pub fn reference(&self, repo_and_tag: &str) -> String {
        format!("{}/{}", self.host(), repo_and_tag)
    }

    /// The basic-auth credentials, when started with [`RegistryBuilder::htpasswd`].
    pub fn credentials(&self) -> Option<&Basic> {
        self.auth.as_ref()
    }

    /// The registry's temp dir (config.yml, storage/, access.log, registry.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The filesystem storage root (`docker/registry/v2/...` lives below it).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The access log (one line per request), as written so far.
    pub fn access_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// The whole captured log: the access log (stdout), then the application log (stderr).
    pub fn log(&self) -> String {
        let app = fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        format!("{}{}", self.access_log(), app)
    }

    /// Waits until every request answered so far is in the access log: the registry
    /// writes a line after the response, so a client may otherwise race it.
    pub fn sync_log(&self) {
        assert!(
            self.probe(Duration::from_secs(10)),
            "access log did not catch up: {}",
            self.log()
        );
    }

    /// All requests in the access log (probe requests of this module excluded).
    pub fn requests(&self) -> Vec<Request> {
        self.sync_log();
        self.access_log()
            .lines()
            .filter(|l| !l.contains(PROBE))
            .filter_map(parse_access_line)
            .collect()
    }

    /// A mark at the current end of the access log.
    pub fn mark(&self) -> LogMark {
        LogMark(self.requests().len())
    }

    /// Same as [`Registry::mark`] (name kept for readability in tests).
    pub fn clear_log_mark(&self) -> LogMark {
        self.mark()
    }

    /// Requests made after `mark`.
    pub fn requests_since(&self, mark: LogMark) -> Vec<Request> {
        self.requests().into_iter().skip(mark.0).collect()
    }

    /// Requests with this method whose path contains `path_substring`.
    pub fn count_requests(&self, method: &str, path_substring: &str) -> usize {
        count(&self.requests(), method, path_substring)
    }

    /// Like [`Registry::count_requests`], only for requests after `mark`.
    pub fn count_since(&self, mark: LogMark, method: &str, path_substring: &str) -> usize {
        count(&self.requests_since(mark), method, path_substring)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Shown with the failing test's output.
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            eprintln!(
                "--- registry {} log (last {} lines) ---\n{}",
                self.host(),
                tail.len(),
                tail.join("\n")
            );
        }
        // SIGKILL by PID (std's Child::kill), then reap it so no zombie is left.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that refuses connections for as long as this lives: a socket is bound to
/// it and never listens, so no listener of another test can take the port (as one could
/// take a port [`free_port`] gave back) and a connection to it is refused.
pub struct DeadPort {
    _socket: socket2::Socket,
    port: u16,
}

impl DeadPort {
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Binds a [`DeadPort`] on 127.0.0.1.
pub fn dead_port() -> DeadPort {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&any.into()).expect("bind 127.0.0.1:0");
    let port = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("a bound address")
        .port();
    DeadPort {
        _socket: socket,
        port,
    }
}

/// A free loopback port (bind :0, read it, release it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}
