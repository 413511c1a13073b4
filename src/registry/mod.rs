//! The OCI distribution API client: reads manifests, blobs and tag lists from registries over
//! HTTP(S), authenticating as docker does and retrying transient failures.
//!
//! One [`RegistryClient`] is shared by every task of a run (it is an `Arc` inside): it holds
//! one connection pool, the learned auth challenges, the token cache and the credentials.

mod auth;
mod blob;
mod challenge;
mod credentials;
mod endpoint;
mod error;
mod limit;
mod login;
mod login_store;
mod manifest;
mod push;
mod retry;
mod search;
mod tags;
mod transport;
mod upload;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;

use crate::oci::{Digest, Manifest};

pub use error::RegistryError;
pub use login::LoginCheck;
pub use login_store::{CredentialLocation, erase_credentials, server_key, store_credentials};
pub use manifest::MANIFEST_SIZE_CAP;
pub use push::DeleteOutcome;
pub use search::{SEARCH_LIMIT_MAX, SearchHit, split_search_term};
pub use upload::{BlobBody, BlobSource, CHUNK_SIZE};

use auth::Auth;
use credentials::Credential;
use endpoint::Endpoint;
use transport::Transport;

/// Connecting to a registry should never take longer; a dead host fails fast and is retried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request limit for small API requests (manifests, tag pages, tokens).
const API_TIMEOUT: Duration = Duration::from_secs(120);

/// The wait before retry number `retry` (0-based) of an operation against a registry:
/// exponential backoff with jitter, for callers that retry whole transfers (a blob
/// download that resumes) the way the client retries single requests.
pub fn backoff(retry: u32) -> Duration {
    retry::backoff(retry)
}

/// How to reach registries: what the user configured rather than what the registry says.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Registries (`host[:port]`) that speak plain HTTP. Loopback registries always may.
    pub insecure_registries: Vec<String>,
    /// Where Docker's `config.json` lives; `None` means `$DOCKER_CONFIG`, else `~/.docker`.
    pub docker_config_dir: Option<PathBuf>,
    /// Sent with every request, so registry operators can tell who is calling.
    pub user_agent: String,
    /// Basic credentials per registry (`host[:port]` → (user, password)) given by a policy;
    /// they take precedence over Docker's config.json. `Debug` never shows them.
    pub credentials: BTreeMap<String, BasicCredentials>,
    /// PEM files of extra CA certificates to trust (a policy's `ca_file`s), on top of the
    /// system roots.
    pub ca_files: Vec<PathBuf>,
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

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            insecure_registries: Vec::new(),
            docker_config_dir: None,
            user_agent: concat!("imagectl/", env!("CARGO_PKG_VERSION")).to_string(),
            credentials: BTreeMap::new(),
            ca_files: Vec::new(),
        }
    }
}

/// A client for any number of registries, cheap to clone and safe to share between tasks.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    insecure_registries: Vec<String>,
    /// Manifests fetched by this client, by repository and digest. Content addressed, so
    /// never stale: a plan that looked at a manifest and the pull that follows it cost one
    /// GET, not two.
    manifests: std::sync::Mutex<std::collections::HashMap<(String, Digest), FetchedManifest>>,
    /// Uploads in flight or done, so one blob is never uploaded twice at once.
    uploads: upload::UploadSlots,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("insecure_registries", &self.inner.insecure_registries)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Build a client. Fails only if the HTTP stack cannot be set up (TLS roots, an invalid
    /// user agent), never silently falling back to other settings.
    pub fn new(cfg: ClientConfig) -> Result<Self, RegistryError> {
        let mut roots = Vec::new();
        for file in &cfg.ca_files {
            let pem = std::fs::read(file).map_err(|e| RegistryError::ClientSetup {
                reason: format!("reading CA file {}: {e}", file.display()),
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                RegistryError::ClientSetup {
                    reason: format!(
                        "CA file {} is not PEM certificates: {}",
                        file.display(),
                        transport::brief_reason(&e)
                    ),
                }
            })?;
            roots.extend(certs);
        }
        let builder = |read_timeout: Option<Duration>| {
            let b = reqwest::Client::builder()
                .tls_certs_merge(roots.clone())
                .user_agent(cfg.user_agent.as_str())
                .connect_timeout(CONNECT_TIMEOUT)
                .redirect(transport::redirect_policy());
            match read_timeout {
                Some(t) => b.read_timeout(t),
                None => b,
            }
            .build()
            .map_err(|e| RegistryError::ClientSetup {
                reason: transport::brief_reason(&e),
            })
        };
        let http = builder(Some(limit::read_timeout()))?;
        // reqwest's read timeout also runs from the start of a request to its response
        // headers, which for an upload come after the last byte: uploads use a client
        // without it and watch their progress themselves (see upload.rs).
        let uploads = builder(None)?;
        let config_dir = credentials::config_dir(cfg.docker_config_dir.as_deref());
        Ok(Self {
            inner: Arc::new(Inner {
                transport: Transport {
                    auth: Auth::new(
                        http.clone(),
                        config_dir,
                        cfg.credentials
                            .into_iter()
                            .map(|(host, c)| {
                                (
                                    host,
                                    Credential::Basic {
                                        username: c.username,
                                        password: c.password,
                                    },
                                )
                            })
                            .collect(),
                    ),
                    http,
                    uploads,
                    limits: limit::HostLimits::from_env(),
                },
                insecure_registries: cfg.insecure_registries,
                manifests: Default::default(),
                uploads: Default::default(),
            }),
        })
    }

    /// Whether requests to `registry` (`host[:port]`, as in a reference) use plain HTTP:
    /// lets callers warn or show it.
    pub fn is_plain_http(&self, registry: &str) -> bool {
        self.endpoint(registry).is_plain_http()
    }

    fn endpoint(&self, registry: &str) -> Endpoint {
        Endpoint::resolve(registry, &self.inner.insecure_registries)
    }
}

/// A manifest as served, verified against its digest, with the exact bytes (which must be
/// stored unchanged for the digest to stay valid).
#[derive(Clone, Debug)]
pub struct FetchedManifest {
    /// sha256 of `bytes`.
    pub digest: Digest,
    /// The media type the manifest declares (or was served as).
    pub media_type: String,
    /// The exact bytes received.
    pub bytes: Bytes,
    /// The parsed manifest or index.
    pub manifest: Manifest,
}

/// What a tag points at, learned from a HEAD request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestHead {
    /// The manifest's digest (`Docker-Content-Digest`).
    pub digest: Digest,
    /// `Content-Type` without parameters (may be empty if the registry sent none).
    pub media_type: String,
    /// `Content-Length` of the manifest.
    pub size: u64,
}

/// A blob body being received. Consume it with [`BlobStream::into_stream`].
pub struct BlobStream {
    /// The size the registry announced, if it did (check it against the descriptor). For a
    /// resumed download, the size of the rest.
    pub content_length: Option<u64>,
    /// Where in the blob this body starts: the offset asked for when the registry honoured
    /// the `Range` request (206), 0 when it sent the whole blob (200). A caller resuming at
    /// another offset must start over.
    pub offset: u64,
    stream: BoxStream<'static, Result<Bytes, RegistryError>>,
}

impl fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStream")
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}
