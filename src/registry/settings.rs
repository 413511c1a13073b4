//! Per-registry settings the user configured (mirrors, plain HTTP, TLS trust, client
//! certificates, credentials) and the TLS profiles they turn into: one HTTP client per
//! distinct profile, because reqwest fixes TLS options per client.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;

use super::error::RegistryError;
use super::http_policy;

/// The registry a reference names when it names none.
pub(crate) const DOCKER_HUB: &str = "docker.io";

/// How to reach one registry (`host[:port]`), as a policy's or config file's `registries:`
/// entry says, already checked. The registry client never reads files of its own accord
/// except the PEM files named here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrySettings {
    /// Tried in order before the registry itself for every read (never for writes).
    pub mirrors: Vec<Mirror>,
    /// `Some(true)`: plain HTTP. `Some(false)`: HTTPS even for a loopback address.
    /// `None`: HTTPS, except plain HTTP for loopback addresses (as docker does).
    pub insecure: Option<bool>,
    /// `false` accepts any server certificate (HTTPS without verification); explicit only.
    pub tls_verify: bool,
    /// PEM file of CA certificates trusted for this registry, on top of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM), for registries that require mutual TLS.
    pub client_identity: Option<ClientIdentity>,
    /// Credentials that take precedence over Docker's `config.json`.
    pub credentials: Option<BasicCredentials>,
    /// Why the configured credentials could not be read (an unset `password_env`, an
    /// unreadable `password_file`): reported when this registry asks for them, so one
    /// broken entry does not stop work with every other registry.
    pub credentials_error: Option<String>,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            mirrors: Vec::new(),
            insecure: None,
            tls_verify: true,
            ca_file: None,
            client_identity: None,
            credentials: None,
            credentials_error: None,
        }
    }
}

impl RegistrySettings {
    /// Whether any setting asks for TLS explicitly, which makes even a loopback registry
    /// HTTPS.
    fn wants_tls(&self) -> bool {
        self.insecure == Some(false)
            || !self.tls_verify
            || self.ca_file.is_some()
            || self.client_identity.is_some()
    }

    /// Whether this registry is reached over plain HTTP, given its name (`host[:port]`).
    pub(crate) fn plain_http(&self, registry: &str) -> bool {
        match self.insecure {
            Some(insecure) => insecure,
            None => !self.wants_tls() && is_loopback(registry),
        }
    }
}

/// A client certificate and its private key, both PEM files.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientIdentity {
    /// The certificate (chain) presented to the registry.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A user name and password. `Debug` shows only the user.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The account.
    pub username: String,
    /// The secret.
    pub password: String,
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BasicCredentials({}, <redacted>)", self.username)
    }
}

/// A mirror: `http(s)://host[:port][/path-prefix]`. The prefix is put before the
/// repository path, as Harbor's proxy-cache projects need
/// (`https://harbor.example/dockerhub` + `library/nginx` → `/v2/dockerhub/library/nginx/…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`: also the key of the mirror's own settings (credentials, CA).
    pub host: String,
    /// Path segments without leading or trailing slash; empty for none.
    pub prefix: String,
}

impl Mirror {
    /// Parse a mirror URL. Only a scheme (`http`/`https`), a host with optional port and an
    /// optional path are allowed: no user info, query or fragment.
    pub fn parse(text: &str) -> Result<Mirror, String> {
        let url = url::Url::parse(text.trim()).map_err(|e| {
            format!("{text:?} is not a URL ({e}): write e.g. https://mirror.example or http://10.0.0.5:5000/dockerhub")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "{text:?} must start with https:// or http:// (e.g. https://mirror.example)"
            ));
        }
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(format!("{text:?} has no host"));
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "{text:?} carries credentials: give the mirror its own registries entry with username and password_env"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{text:?} has a query or fragment: a mirror is host[:port][/path-prefix]"
            ));
        }
        let prefix = url.path().trim_matches('/').to_string();
        if prefix.split('/').any(|s| s == "v2") {
            return Err(format!(
                "{text:?} names /v2/ in its path: give the mirror's base URL (imagectl adds /v2/ itself)"
            ));
        }
        let host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        Ok(Mirror {
            scheme: url.scheme().to_string(),
            host,
            prefix,
        })
    }
}

impl fmt::Display for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

/// `index.docker.io`, `registry-1.docker.io` → `docker.io`; a scheme or trailing slash
/// (pasted from a URL) is dropped. Lets flags and config keys name a registry the way
/// references do.
pub fn normalize_registry(name: &str) -> String {
    let s = name.trim();
    let s = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .unwrap_or(s)
        .trim_end_matches('/');
    match s {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        other => other.to_string(),
    }
}

/// `localhost`, `127.0.0.0/8` or `[::1]`, with or without a port.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        return rest
            .split_once(']')
            .and_then(|(v6, _)| v6.parse::<std::net::Ipv6Addr>().ok())
            .is_some_and(|ip| ip.is_loopback());
    } else {
        registry.split_once(':').map_or(registry, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What a TLS connection trusts and presents: registries with equal profiles share one
/// HTTP client (and its connection pool).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct TlsProfile {
    ca_file: Option<PathBuf>,
    skip_verify: bool,
    identity: Option<ClientIdentity>,
}

impl TlsProfile {
    fn of(s: &RegistrySettings) -> Self {
        Self {
            ca_file: s.ca_file.clone(),
            skip_verify: !s.tls_verify,
            identity: s.client_identity.clone(),
        }
    }
}

/// The clients of one TLS profile: for API requests and downloads (with a read
/// timeout), and for streamed uploads (without: reqwest's read timeout also runs from the
/// last byte sent to the response headers; uploads watch their own progress).
#[derive(Clone)]
pub(crate) struct ProfileClients {
    /// API requests and downloads.
    pub(crate) http: reqwest::Client,
    /// Streamed uploads.
    pub(crate) uploads: reqwest::Client,
}

/// The clients of each TLS profile, and which registry host uses which.
pub(crate) struct Clients {
    default: ProfileClients,
    by_host: HashMap<String, ProfileClients>,
}

impl Clients {
    /// Build the clients; a CA or identity file that cannot be read or parsed is an error
    /// naming the file and the registry.
    pub(crate) fn build(
        registries: &BTreeMap<String, RegistrySettings>,
        user_agent: &str,
    ) -> Result<Self, RegistryError> {
        let mut profiles: HashMap<TlsProfile, ProfileClients> = HashMap::new();
        let default = clients(&TlsProfile::default(), user_agent, "")?;
        profiles.insert(TlsProfile::default(), default.clone());
        let mut by_host = HashMap::new();
        for (host, settings) in registries {
            let profile = TlsProfile::of(settings);
            let http = match profiles.get(&profile) {
                Some(c) => c.clone(),
                None => {
                    let c = clients(&profile, user_agent, host)?;
                    profiles.insert(profile, c.clone());
                    c
                }
            };
            by_host.insert(host.clone(), http);
        }
        Ok(Self { default, by_host })
    }

    /// The clients for requests to `host` (`host[:port]`).
    pub(crate) fn for_host(&self, host: &str) -> ProfileClients {
        self.by_host
            .get(host)
            .cloned()
            .unwrap_or_else(|| self.default.clone())
    }
}

fn clients(
    profile: &TlsProfile,
    user_agent: &str,
    registry: &str,
) -> Result<ProfileClients, RegistryError> {
    Ok(ProfileClients {
        http: client(
            profile,
            user_agent,
            registry,
            Some(super::limit::read_timeout()),
        )?,
        uploads: client(profile, user_agent, registry, None)?,
    })
}

fn client(
    profile: &TlsProfile,
    user_agent: &str,
    registry: &str,
    read_timeout: Option<std::time::Duration>,
) -> Result<reqwest::Client, RegistryError> {
    let setup = |reason: String| RegistryError::ClientSetup { reason };
    let mut builder = reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(super::CONNECT_TIMEOUT)
        .redirect(http_policy::redirect_policy());
    if let Some(t) = read_timeout {
        builder = builder.read_timeout(t);
    }
    if let Some(file) = &profile.ca_file {
        let pem = std::fs::read(file).map_err(|e| {
            setup(format!(
                "registry {registry}: cannot read ca_file {}: {e}",
                file.display()
            ))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                setup(format!(
                    "registry {registry}: ca_file {} holds no PEM certificates (-----BEGIN CERTIFICATE-----)",
                    file.display()
                ))
            })?;
        builder = builder.tls_certs_merge(certs);
    }
    if profile.skip_verify {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    if let Some(id) = &profile.identity {
        let read = |p: &PathBuf, what: &str| {
            std::fs::read(p).map_err(|e| {
                setup(format!(
                    "registry {registry}: cannot read {what} {}: {e}",
                    p.display()
                ))
            })
        };
        let mut pem = read(&id.cert, "client_cert")?;
        pem.push(b'\n');
        pem.extend(read(&id.key, "client_key")?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
            setup(format!(
                "registry {registry}: client_cert {} and client_key {} are not a PEM certificate and private key: {}",
                id.cert.display(),
                id.key.display(),
                http_policy::brief_reason(&e)
            ))
        })?;
        builder = builder.identity(identity);
    }
    builder
        .build()
        .map_err(|e| setup(http_policy::brief_reason(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_urls() {
        let m = Mirror::parse("https://harbor.example/dockerhub/").unwrap();
        assert_eq!(
            m,
            Mirror {
                scheme: "https".into(),
                host: "harbor.example".into(),
                prefix: "dockerhub".into()
            }
        );
        assert_eq!(m.to_string(), "https://harbor.example/dockerhub");
        let m = Mirror::parse("http://127.0.0.1:5001").unwrap();
        assert_eq!((m.host.as_str(), m.prefix.as_str()), ("127.0.0.1:5001", ""));
        assert_eq!(m.to_string(), "http://127.0.0.1:5001");
        for bad in [
            "mirror.example",
            "ftp://x",
            "https://u:p@x",
            "https://x/?a=b",
            "https://x/v2/",
        ] {
            assert!(Mirror::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scheme_rule() {
        let plain = RegistrySettings::default();
        assert!(plain.plain_http("127.0.0.1:5000"));
        assert!(plain.plain_http("localhost"));
        assert!(!plain.plain_http("quay.io"));
        let tls = RegistrySettings {
            ca_file: Some("/ca.pem".into()),
            ..Default::default()
        };
        assert!(!tls.plain_http("127.0.0.1:5000"));
        let explicit = RegistrySettings {
            insecure: Some(false),
            ..Default::default()
        };
        assert!(!explicit.plain_http("127.0.0.1:5000"));
        let insecure = RegistrySettings {
            insecure: Some(true),
            ..Default::default()
        };
        assert!(insecure.plain_http("harbor.internal:30002"));
        assert!(!is_loopback("128.0.0.1"));
        assert!(is_loopback("[::1]:5000"));
    }

    #[test]
    fn normalization() {
        assert_eq!(normalize_registry("index.docker.io"), "docker.io");
        assert_eq!(
            normalize_registry("https://registry-1.docker.io/"),
            "docker.io"
        );
        assert_eq!(normalize_registry("http://h:1/"), "h:1");
    }
}
