//! The OCI distribution API client: reads manifests, blobs and tag lists from registries over
//! HTTP(S), authenticating as docker does and retrying transient failures.
//!
//! One [`RegistryClient`] is shared by every task of a run (it is an `Arc` inside): it holds
//! one connection pool per TLS profile (registries with equal CA, verification and client
//! certificate settings share one), the learned auth challenges, the token cache, the
//! credentials and what this run learned about mirrors. Reads go to a registry's mirrors
//! first (`endpoints_for_read`); writes only to the registry itself.

mod auth;
mod blob;
mod challenge;
mod credentials;
mod endpoint;
mod error;
mod http_policy;
mod limit;
mod login;
mod login_store;
mod manifest;
mod mirrors;
mod push;
mod raw;
mod referrers;
mod refusal;
mod remote;
mod retry;
mod search;
mod settings;
pub mod stats;
mod tags;
mod transport;
mod upload;
mod upload_body;
mod upload_url;

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
pub use remote::Remote;
pub use search::{SEARCH_LIMIT_MAX, SearchHit, split_search_term};
pub use settings::{
    BasicCredentials, ClientIdentity, Mirror, RegistrySettings, normalize_registry,
};
pub use upload::{BlobSource, CHUNK_SIZE};
pub use upload_body::BlobBody;

use auth::Auth;
use credentials::Credential;
use endpoint::Endpoint;
use settings::Clients;
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
    /// Per-registry settings keyed by `host[:port]` as references name registries
    /// (`docker.io`, not `index.docker.io`); a mirror's own host may have an entry too,
    /// which gives that mirror's credentials and TLS settings.
    pub registries: BTreeMap<String, RegistrySettings>,
    /// Where Docker's `config.json` lives; `None` means `$DOCKER_CONFIG`, else `~/.docker`.
    pub docker_config_dir: Option<PathBuf>,
    /// Sent with every request, so registry operators can tell who is calling.
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            registries: BTreeMap::new(),
            docker_config_dir: None,
            user_agent: concat!("imagectl/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// A client for any number of registries, cheap to clone and safe to share between tasks.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
    /// Tag lists already read, when this client shares them (see
    /// [`RegistryClient::sharing_tag_lists`]).
    tag_lists: Option<tags::TagLists>,
}

struct Inner {
    transport: Transport,
    registries: BTreeMap<String, RegistrySettings>,
    clients: Clients,
    /// Manifests fetched by this client, by repository and digest. Content addressed, so
    /// never stale: a plan that looked at a manifest and the pull that follows it cost one
    /// GET, not two.
    manifests: std::sync::Mutex<std::collections::HashMap<(String, Digest), FetchedManifest>>,
    /// Uploads in flight or done, so one blob is never uploaded twice at once.
    uploads: upload::UploadSlots,
    /// Mirror state for this run (dead mirrors, who served what).
    mirrors: mirrors::MirrorState,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("registries", &self.inner.registries)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Build a client. Fails if the HTTP stack cannot be set up (a CA, certificate or key
    /// file that cannot be read or parsed, an invalid user agent), never silently falling
    /// back to other settings.
    pub fn new(cfg: ClientConfig) -> Result<Self, RegistryError> {
        let clients = Clients::build(&cfg.registries, &cfg.user_agent)?;
        for (host, s) in &cfg.registries {
            if !s.tls_verify {
                tracing::info!(
                    "registry {host}: tls_verify is false: its certificate is not checked"
                );
            }
        }
        let config_dir = credentials::config_dir(cfg.docker_config_dir.as_deref());
        let explicit = cfg
            .registries
            .iter()
            .filter_map(|(host, s)| {
                let configured = match (&s.credentials_error, &s.credentials) {
                    (Some(reason), _) => Err(reason.clone()),
                    (None, Some(c)) => Ok(Credential::Basic {
                        username: c.username.clone(),
                        password: c.password.clone(),
                    }),
                    (None, None) => return None,
                };
                Some((host.clone(), configured))
            })
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                transport: Transport {
                    auth: Auth::new(config_dir, explicit),
                    limits: limit::HostLimits::from_env(),
                },
                registries: cfg.registries,
                clients,
                manifests: Default::default(),
                uploads: Default::default(),
                mirrors: Default::default(),
            }),
            tag_lists: None,
        })
    }

    /// This client, but reading each repository's tag list at most once from now on: a
    /// run's expansion and its referrer lookups then share one listing. For one run's
    /// planning only, where one consistent view of each repository is what is wanted; the
    /// client it came from keeps asking every time.
    pub fn sharing_tag_lists(&self) -> RegistryClient {
        RegistryClient {
            inner: self.inner.clone(),
            tag_lists: Some(tags::TagLists::default()),
        }
    }

    /// The user name and password imagectl would send to `registry`, for a daemon that
    /// pulls itself (the Engine's own pull), from the same sources in the same order.
    /// An identity token cannot be handed over that way: an error says so.
    pub async fn credentials_for(
        &self,
        registry: &str,
    ) -> Result<Option<BasicCredentials>, RegistryError> {
        match self.inner.transport.auth.credential(registry).await? {
            None => Ok(None),
            Some(Credential::Basic { username, password }) => {
                Ok(Some(BasicCredentials { username, password }))
            }
            Some(Credential::IdentityToken(_)) => Err(RegistryError::Credentials {
                registry: registry.to_string(),
                reason: "an identity token is stored for it, which imagectl does not hand to the Docker Engine: pull with imagectl's client (the default), or `docker login` with a password".to_string(),
            }),
        }
    }

    /// Whether requests to `registry` (`host[:port]`, as in a reference) use plain HTTP:
    /// lets callers warn or show it.
    pub fn is_plain_http(&self, registry: &str) -> bool {
        self.endpoint(registry).is_plain_http()
    }

    /// The registry itself: where every write and (after the mirrors) every read goes.
    pub(crate) fn endpoint(&self, registry: &str) -> Endpoint {
        let default = RegistrySettings::default();
        let settings = self.inner.registries.get(registry).unwrap_or(&default);
        Endpoint::upstream(registry, settings, self.inner.clients.for_host(registry))
    }

    /// Where reads of `registry` go, in order: its mirrors that have not failed to connect
    /// during this run, then the registry itself.
    pub(crate) fn endpoints_for_read(&self, registry: &str) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self
            .inner
            .registries
            .get(registry)
            .map(|s| s.mirrors.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|m| Endpoint::mirror(m, self.inner.clients.for_host(&m.host)))
            .filter(|e| !self.inner.mirrors.is_dead(e))
            .collect();
        out.push(self.endpoint(registry));
        out
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
    /// The mirror that serves it (its `host[:port]`), `None` for the registry itself: if
    /// the bytes fail verification, [`RegistryClient::distrust_mirror`] makes the next
    /// attempt skip that mirror for this blob.
    pub mirror: Option<String>,
    stream: BoxStream<'static, Result<Bytes, RegistryError>>,
}

impl fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStream")
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}
