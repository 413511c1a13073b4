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

/// One request line of the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Path and query, as requested (`/v2/demo/app/manifests/1.0`).
    pub path: String,
    pub status: u16,
    pub user_agent: String,
}

/// A position in the access log; requests after it are "since" the mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogMark(usize);

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

    /// HEADs `/v2/REPO/manifests/REFERENCE` accepting every manifest type and returns the
    /// `Docker-Content-Digest` the registry serves, or None on 404.
    pub fn manifest_digest(&self, repo: &str, reference: &str) -> Option<String> {
        let resp = self
            .call(
                "HEAD",
                &format!("/v2/{repo}/manifests/{reference}"),
                &[("Accept", ACCEPT_MANIFESTS)],
                &[],
            )
            .expect("HEAD manifest");
        match resp.status {
            200 => Some(
                resp.header("docker-content-digest")
                    .expect("Docker-Content-Digest header")
                    .to_string(),
            ),
            404 => None,
            s => panic!("HEAD /v2/{repo}/manifests/{reference}: status {s}"),
        }
    }

    /// GETs a manifest: (content type, bytes).
    pub fn get_manifest(&self, repo: &str, reference: &str) -> (String, Vec<u8>) {
        let resp = self
            .call(
                "GET",
                &format!("/v2/{repo}/manifests/{reference}"),
                &[("Accept", ACCEPT_MANIFESTS)],
                &[],
            )
            .expect("GET manifest");
        assert_eq!(
            resp.status,
            200,
            "GET manifest {repo}:{reference}: {}",
            resp.text()
        );
        (
            resp.header("content-type").unwrap_or_default().to_string(),
            resp.body,
        )
    }

    /// Uploads a blob monolithically (POST then PUT with `?digest=`); returns its digest.
    pub fn put_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = super::fixtures::sha256_digest(data);
        let resp = self
            .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[])
            .expect("POST blob upload");
        assert_eq!(resp.status, 202, "start upload: {}", resp.text());
        let location = resp
            .header("location")
            .expect("upload Location")
            .to_string();
        let sep = if location.contains('?') { '&' } else { '?' };
        let target = format!("{location}{sep}digest={digest}");
        let resp = self
            .call(
                "PUT",
                &target,
                &[("Content-Type", "application/octet-stream")],
                data,
            )
            .expect("PUT blob");
        assert_eq!(resp.status, 201, "finish upload: {}", resp.text());
        digest
    }

    /// PUTs a manifest under `reference` (a tag or a digest); returns the digest the
    /// registry reports.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let resp = self
            .call(
                "PUT",
                &format!("/v2/{repo}/manifests/{reference}"),
                &[("Content-Type", media_type)],
                bytes,
            )
            .expect("PUT manifest");
        assert_eq!(
            resp.status,
            201,
            "PUT manifest {repo}:{reference}: {}",
            resp.text()
        );
        resp.header("docker-content-digest")
            .expect("Docker-Content-Digest")
            .to_string()
    }

    /// DELETEs a manifest by digest (storage.delete is enabled).
    pub fn delete_manifest(&self, repo: &str, digest: &str) {
        let resp = self
            .call(
                "DELETE",
                &format!("/v2/{repo}/manifests/{digest}"),
                &[],
                &[],
            )
            .expect("DELETE manifest");
        assert_eq!(resp.status, 202, "DELETE manifest: {}", resp.text());
    }

    /// The tags of `repo` (`/v2/REPO/tags/list`), empty on 404.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let resp = self
            .call("GET", &format!("/v2/{repo}/tags/list"), &[], &[])
            .expect("GET tags");
        if resp.status == 404 {
            return Vec::new();
        }
        let v: serde_json::Value = serde_json::from_slice(&resp.body).expect("tags json");
        v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One request to this registry, with its credentials if it has any.
    pub fn call(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<http::Response> {
        http::request(
            &self.host(),
            method,
            target,
            headers,
            self.auth.as_ref(),
            body,
        )
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

/// Every manifest media type a registry may serve.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

fn count(reqs: &[Request], method: &str, path_substring: &str) -> usize {
    reqs.iter()
        .filter(|r| r.method == method && r.path.contains(path_substring))
        .count()
}

/// A free loopback port (bind :0, read it, release it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Parses `127.0.0.1 - - [date] "GET /v2/x HTTP/1.1" 200 2 "" "ua"`.
fn parse_access_line(line: &str) -> Option<Request> {
    // The user field is always "-": distribution does not log the authenticated user there.
    let (_, rest) = line.split_once('[')?;
    let q1 = rest.find('"')?;
    let rest = &rest[q1 + 1..];
    let q2 = rest.find('"')?;
    let mut req = rest[..q2].split_whitespace();
    let method = req.next()?.to_string();
    let path = req.next()?.to_string();
    let after = &rest[q2 + 1..];
    let status = after.split_whitespace().next()?.parse().ok()?;
    let user_agent = after
        .rsplit('"')
        .nth(1)
        .map(String::from)
        .unwrap_or_default();
    Some(Request {
        method,
        path,
        status,
        user_agent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The access-log parser reads method, path, status and user agent.
    #[test]
    fn parses_access_log_line() {
        let r = parse_access_line(
            r#"127.0.0.1 - - [28/Nov/2026:21:19:05 +0000] "GET /v2/demo/multi/manifests/v2s2 HTTP/1.1" 200 544 "" "skopeo/1.9.3""#,
        )
        .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/v2/demo/multi/manifests/v2s2");
        assert_eq!(r.status, 200);
        assert_eq!(r.user_agent, "skopeo/1.9.3");
    }
}
