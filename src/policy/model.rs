//! The validated policy: what `load` returns and the planner reads. Every value here has
//! passed validation, so consumers never re-check names, ranges or patterns.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::oci::{Platform, Reference};

/// A whole policy, after loading one file or merging a directory of them.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Format version; always 1 once loaded (other versions are refused).
    pub version: u32,
    /// Where images are kept; `None` leaves the choice to `--store` and its defaults.
    pub store: Option<StoreSpec>,
    /// Per-registry transport and credential settings, keyed by `host[:port]`
    /// (normalized as in references: `index.docker.io` is `docker.io`).
    pub registries: BTreeMap<String, RegistrySpec>,
    /// Settings that entries inherit unless they say otherwise.
    pub defaults: Defaults,
    /// The declared images, in file order (files of a directory sorted by name).
    pub images: Vec<ImageSpec>,
    /// What may be removed, and the limits on removing it.
    pub prune: PruneSpec,
    /// When `imagectl run` applies the policy: a 5-field cron line (or a `@daily`-style
    /// nickname), already checked to parse.
    pub schedule: Option<String>,
    /// Registries every desired image is pushed to, in file order.
    pub replicate: Vec<ReplicateSpec>,
}

/// One replication target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicateSpec {
    /// The target registry (`host[:port]`).
    pub registry: String,
    /// Path prepended to each source repository path (`mirror`), or empty.
    pub prefix: String,
    /// Platforms to push; empty means the whole image with the source's digests.
    pub platforms: Vec<Platform>,
    /// Delete tags imagectl pushed here once the policy stops wanting them.
    pub prune: bool,
    /// The name of the ledger of pushed tags in the target (a tag, `default` unless set).
    pub ledger: String,
    /// Carry each image's referrers (signatures, attestations, SBOMs) along.
    pub referrers: bool,
    /// Where the target is written.
    pub origin: Origin,
}

/// Which store the policy manages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// The embedded store's directory (absolute).
    Path(PathBuf),
    /// A Docker Engine: `unix:///PATH` or `tcp://HOST:PORT` (`None`: `$DOCKER_HOST`, else
    /// the default socket), and whether the Engine pulls itself (`pull: engine`).
    Docker {
        /// The Engine's socket.
        host: Option<String>,
        /// `pull: engine`: the Engine's own pull instead of imagectl's client.
        engine_pull: bool,
    },
    /// containerd (`None`s: the environment's, else the defaults).
    Containerd {
        /// The socket path.
        address: Option<String>,
        /// The namespace.
        namespace: Option<String>,
        /// `pull: cri`: CRI's PullImage instead of imagectl's client.
        cri_pull: bool,
        /// `min_age`.
        min_age: Option<std::time::Duration>,
    },
}

/// How to talk to one registry. Secrets are never inline: only where to find them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrySpec {
    /// Mirror URLs (`scheme://host[:port][/prefix]`, no trailing slash), tried in order
    /// before the registry for reads.
    pub mirrors: Vec<String>,
    /// `Some(true)`: plain HTTP; `Some(false)`: HTTPS even on loopback; `None`: HTTPS
    /// except for loopback addresses.
    pub insecure: Option<bool>,
    /// `false` skips certificate verification (explicit only; never with `insecure`).
    pub tls_verify: bool,
    /// A PEM file with extra CA certificates to trust for this registry.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; always paired with `client_key`.
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM); always paired with `client_cert`.
    pub client_key: Option<PathBuf>,
    /// User name for basic auth; always paired with a password source.
    pub username: Option<String>,
    /// Name of the environment variable holding the password or token.
    pub password_env: Option<String>,
    /// A file whose contents (trailing newline trimmed) are the password or token.
    pub password_file: Option<PathBuf>,
}

impl Default for RegistrySpec {
    fn default() -> Self {
        Self {
            mirrors: Vec::new(),
            insecure: None,
            tls_verify: true,
            ca_file: None,
            client_cert: None,
            client_key: None,
            username: None,
            password_env: None,
            password_file: None,
        }
    }
}

/// Settings inherited by every image entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Defaults {
    /// Platforms to pull when an entry names none; empty means the host's platform.
    pub platforms: Vec<Platform>,
}

/// One `images:` entry: a repository and the tags of it that must be present.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    /// The repository, normalized (`docker.io/library/nginx`); never carries a tag. Carries a
    /// digest when the entry pins one (`busybox@sha256:…`): then `tags` is empty, `selector`
    /// is `None`, and `also_tag` names the image.
    pub name: Reference,
    /// Tags wanted by name, in the order written.
    pub tags: Vec<String>,
    /// Tags wanted by rule (pattern, version range, newest N); `None` when the entry gives none.
    pub selector: Option<Selector>,
    /// Platforms to pull; empty means `defaults.platforms`.
    pub platforms: Vec<Platform>,
    /// Further names for the image (each with a tag, no digest). Only allowed when the entry
    /// denotes exactly one image: a digest pin, or exactly one explicit tag and no selector.
    pub also_tag: Vec<Reference>,
    /// Where the entry was written, for messages about it.
    pub origin: Origin,
}

impl ImageSpec {
    /// Whether the entry pins a digest (pinned images are never removed by retention).
    pub fn is_pinned(&self) -> bool {
        self.name.digest().is_some()
    }
}

/// A rule choosing tags from a registry's tag list; see the module docs for the semantics.
#[derive(Clone, Debug)]
pub struct Selector {
    /// Tags must match this whole (the loader anchors it as `^(?:…)$`).
    pub pattern: Option<regex::Regex>,
    /// Tags must parse as versions satisfying this range.
    pub semver: Option<semver::VersionReq>,
    /// Only the first N candidates in `by` order; `None` keeps every candidate. Never 0.
    pub keep: Option<usize>,
    /// How candidates are ordered, newest first.
    pub by: Order,
}

/// The order in which a selector ranks candidate tags, newest first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// By parsed version (ties by name); tags that are not versions are not candidates.
    #[default]
    Semver,
    /// By the image's creation time as the planner looks it up (unknown times last).
    Created,
    /// Reverse lexicographic by tag, for date-stamped tags such as `2024-05-01`.
    Name,
}

/// What `apply` may remove and the limits on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PruneSpec {
    /// Remove untagged images and unreferenced blobs.
    pub dangling: bool,
    /// What to do with images no entry declares.
    pub unmanaged: Unmanaged,
    /// Never remove an image pulled or used more recently than this.
    pub keep_within: Option<jiff::SignedDuration>,
    /// Bytes the store may hold after a run: above it, images the policy does not want are
    /// evicted, least recently used first (`plan::budget`).
    pub max_disk: Option<u64>,
    /// Refuse a run that would remove more than this many images; `None` means unlimited
    /// (written `max_removals: unlimited`).
    pub max_removals: Option<usize>,
}

impl Default for PruneSpec {
    fn default() -> Self {
        Self {
            dangling: true,
            unmanaged: Unmanaged::Keep,
            keep_within: None,
            max_disk: None,
            max_removals: Some(DEFAULT_MAX_REMOVALS),
        }
    }
}

/// The removal cap when a policy sets none.
pub const DEFAULT_MAX_REMOVALS: usize = 50;

/// The fate of images that no entry declares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unmanaged {
    /// Leave them alone (hand-pulled images survive).
    #[default]
    Keep,
    /// Remove them (the store holds exactly what the policy says).
    Remove,
}

/// A position in a policy file, for messages that point back at the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The file, as given on the command line or joined to the directory.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}
