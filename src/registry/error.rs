//! The registry client's errors: one line each, naming the registry, URL or reference and
//! saying what to do. Credentials and tokens never appear in them.

use std::time::Duration;

use crate::oci::{Algorithm, Digest, ManifestError, Reference};

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The HTTP client could not be built (TLS roots, bad user agent).
    #[error("cannot set up the HTTP client: {reason}")]
    ClientSetup {
        /// What the HTTP library said.
        reason: String,
    },
    /// No connection: refused, DNS, TLS handshake or connect timeout.
    #[error("cannot reach registry {registry} at {url}: {reason}; {}", unreachable_hint(.reason, .url))]
    Unreachable {
        /// The registry as named in the reference.
        registry: String,
        /// The URL that was requested.
        url: String,
        /// The innermost cause, briefly (`connection refused`, `dns error: …`).
        reason: String,
    },
    /// The connection broke or stalled while the response body was being read.
    #[error("reading the response from {url} failed: {reason}; try again")]
    Body {
        /// The URL being read.
        url: String,
        /// The innermost cause, briefly.
        reason: String,
    },
    /// The registry refused us after we authenticated (or had nothing to authenticate with).
    #[error(
        "registry {registry} requires authentication and {}",
        if *.with_credentials {
            "rejected the credentials sent (from the registries config or Docker's config.json): check them, or run `imagectl login` (or `docker login`) again"
        } else {
            "no credentials were found for it: run `imagectl login` (or `docker login`), or give it username and password_env in the registries config"
        }
    )]
    Unauthorized {
        /// The registry as named in the reference.
        registry: String,
        /// Whether credentials from config.json were sent.
        with_credentials: bool,
    },
    /// The registry's token does not grant pulling this repository: like docker's "pull access
    /// denied", the repository does not exist or is private.
    #[error(
        "pull access denied for {repository} on registry {registry}: the repository does not exist or {}",
        if *.with_credentials {
            "the account from Docker's config.json may not pull it"
        } else {
            "needs credentials (run `imagectl login` or `docker login`)"
        }
    )]
    InsufficientScope {
        /// The registry as named in the reference.
        registry: String,
        /// The repository path.
        repository: String,
        /// Whether credentials from config.json were used to get the token.
        with_credentials: bool,
    },
    /// Authenticated, but not allowed to read this repository (HTTP 403).
    #[error(
        "access to {repository} on registry {registry} denied: check that the account may pull it"
    )]
    Denied {
        /// The registry as named in the reference.
        registry: String,
        /// The repository path.
        repository: String,
    },
    /// The registry answered 401 without a challenge we understand.
    #[error(
        "registry {registry} asked for authentication at {url} with an unusable WWW-Authenticate header: {reason}"
    )]
    BadChallenge {
        /// The registry as named in the reference.
        registry: String,
        /// The URL that was answered with 401.
        url: String,
        /// What is wrong with the challenge.
        reason: String,
    },
    /// Looking up credentials failed for a reason other than "there are none".
    #[error(
        "cannot read credentials for registry {registry}: {reason}; check Docker's config.json and its credential helpers"
    )]
    Credentials {
        /// The registry as named in the reference.
        registry: String,
        /// What went wrong (never the credential itself).
        reason: String,
    },
    /// The registry does not list its repositories (`/v2/_catalog` answered 404).
    #[error(
        "registry {registry} does not offer a catalog (/v2/_catalog), so it cannot be searched; list a known repository with `imagectl tags`"
    )]
    NoCatalog {
        /// The registry searched.
        registry: String,
    },
    /// `login`: the registry refused the user name and password.
    #[error("registry {registry} rejected the user name or password; nothing was stored")]
    LoginRejected {
        /// The registry being logged in to.
        registry: String,
    },
    /// The password configured for a registry (policy or registries config) is unavailable.
    #[error("cannot use the credentials configured for registry {registry}: {reason}")]
    ConfiguredCredentials {
        /// The registry.
        registry: String,
        /// Which source failed and what to do (never the secret).
        reason: String,
    },
    /// `login`/`logout` could not write where docker keeps credentials.
    #[error("cannot store credentials for registry {registry}: {reason}")]
    CredentialStore {
        /// The registry being logged in to or out of.
        registry: String,
        /// What went wrong (never the credential itself).
        reason: String,
    },
    /// The tag or digest does not exist in the repository (or the repository does not).
    #[error("manifest for {reference} not found: check the repository name and tag")]
    ManifestUnknown {
        /// What was asked for (the full reference).
        reference: String,
    },
    /// A blob named by a manifest is missing from the registry.
    #[error(
        "blob {digest} not found in {repository}: the registry lost it or the image is incomplete; push it again"
    )]
    BlobUnknown {
        /// `registry/repository`.
        repository: String,
        /// The missing blob.
        digest: Digest,
    },
    /// Listing tags of a repository the registry does not know.
    #[error("repository {repository} not found: check the repository name")]
    RepositoryUnknown {
        /// `registry/repository`.
        repository: String,
    },
    /// Rate-limited even after waiting and retrying.
    #[error(
        "registry {registry} keeps answering 429 Too Many Requests{}: {}, or log in for a higher limit",
        match .rate_limit { Some(r) => format!(" ({r})"), None => String::new() },
        match .retry_after { Some(d) => format!("try again in {}s", d.as_secs().max(1)), None => "wait and try again".to_string() }
    )]
    TooManyRequests {
        /// The registry as named in the reference.
        registry: String,
        /// What the last `Retry-After` header asked for.
        retry_after: Option<Duration>,
        /// Docker Hub's `ratelimit-remaining`/`ratelimit-limit` in words, when sent.
        rate_limit: Option<String>,
    },
    /// The registry failed with a 5xx status even after retries.
    #[error("registry server error {status} from {url}: try again later")]
    Server {
        /// The URL that failed.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// An HTTP status the distribution API does not give for this request.
    #[error("unexpected HTTP status {status} from {url}")]
    UnexpectedStatus {
        /// The URL that was requested.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The registry served something that is not a usable manifest.
    #[error("invalid manifest for {reference}: {source}")]
    InvalidManifest {
        /// What was asked for (the full reference).
        reference: String,
        /// Why the bytes are unusable.
        source: ManifestError,
    },
    /// The manifest is larger than any real manifest; refused rather than buffered.
    #[error("manifest for {reference} is larger than {limit} bytes: refusing it")]
    ManifestTooLarge {
        /// What was asked for (the full reference).
        reference: String,
        /// The cap in bytes.
        limit: u64,
    },
    /// The manifest bytes do not hash to the digest asked for or announced: never trust them.
    #[error(
        "manifest for {reference} has digest {actual} but {expected} was {what}: the registry or a proxy altered it"
    )]
    DigestMismatch {
        /// What was asked for (the full reference).
        reference: String,
        /// The digest that was expected.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
        /// Where `expected` came from (`requested`, `announced in Docker-Content-Digest`).
        what: &'static str,
    },
    /// The reference pins a sha384 or sha512 digest: docker accepts it, but imagectl only
    /// verifies sha256 content, so it refuses before asking the registry.
    #[error(
        "manifest for {reference}: {algorithm} content cannot be verified by imagectl yet (it verifies sha256 only): pin the image by its sha256 digest"
    )]
    UnverifiableDigest {
        /// The full reference.
        reference: String,
        /// The algorithm of its digest.
        algorithm: Algorithm,
    },
    /// A HEAD answered without the `Docker-Content-Digest` header, so the digest is unknown.
    #[error(
        "registry did not send a usable Docker-Content-Digest for {reference}: fetch the manifest instead"
    )]
    NoDigestHeader {
        /// What was asked for (the full reference).
        reference: String,
    },
    /// Authenticated, but not allowed to push to this repository (403, or a token without
    /// `push`).
    #[error(
        "push access to {repository} on registry {registry} denied: check that the account from Docker's config.json may push there (`docker login {registry}`)"
    )]
    PushDenied {
        /// The registry as named in the reference.
        registry: String,
        /// The repository path.
        repository: String,
    },
    /// The registry does not allow deleting (distribution answers 405 UNSUPPORTED when
    /// `storage.delete.enabled` is off).
    #[error(
        "registry {registry} does not allow deleting manifests in {repository}: enable deletes there (distribution: storage.delete.enabled: true)"
    )]
    DeleteUnsupported {
        /// The registry as named in the reference.
        registry: String,
        /// The repository path.
        repository: String,
    },
    /// The registry refused a write with a distribution error (`MANIFEST_BLOB_UNKNOWN`,
    /// `BLOB_UPLOAD_INVALID`, …).
    #[error("registry refused {what}: HTTP {status} {code}: {message}{}", refused_hint(.code))]
    Refused {
        /// What was being written (`manifest 127.0.0.1:5000/app:1.0`, `blob sha256:… to …`).
        what: String,
        /// The HTTP status.
        status: u16,
        /// The first distribution error code, or `-`.
        code: String,
        /// Its message, or the start of the body.
        message: String,
    },
    /// The registry computed another digest for an uploaded blob than it was announced as:
    /// the bytes the source sent are not the blob.
    #[error(
        "registry {repository} refused blob {digest}: the uploaded bytes do not match the digest (the source served different or corrupted content); copy again or check the source"
    )]
    UploadDigestMismatch {
        /// `registry/repository` uploaded to.
        repository: String,
        /// The digest announced.
        digest: Digest,
    },
    /// The bytes to upload could not be read, or were not as many as the descriptor says.
    #[error("cannot read blob {digest} for the upload: {reason}")]
    UploadSource {
        /// The blob being uploaded.
        digest: Digest,
        /// Why (an I/O error, a short or long source).
        reason: String,
    },
    /// The registry's `Docker-Content-Digest` for a pushed manifest is not the digest of the
    /// bytes sent: it changed them, so the digest cannot be trusted to be preserved.
    #[error(
        "registry stored manifest {reference} as {actual} but the bytes sent hash to {expected}: it rewrote the manifest"
    )]
    PushDigestMismatch {
        /// Where it was pushed.
        reference: String,
        /// sha256 of the bytes sent.
        expected: Digest,
        /// What the registry announced.
        actual: Digest,
    },
    /// A response that breaks the distribution API (bad JSON, bad token, bad Link header).
    #[error("invalid response from {url}: {reason}")]
    InvalidResponse {
        /// The URL that answered.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// What to do about a failed connection, judged from its cause.
fn unreachable_hint(reason: &str, url: &str) -> &'static str {
    let lower = reason.to_ascii_lowercase();
    // hyper reports a connection the server dropped mid-request in several words,
    // depending on when it noticed: all mean "the peer hung up".
    let closed = [
        "connection closed",
        "connection reset",
        "channel closed",
        "broken pipe",
        "unexpected eof",
    ]
    .iter()
    .any(|s| lower.contains(s));
    if reason.starts_with(PLAIN_HTTP_REASON) {
        "it serves plain HTTP: set `insecure: true` for it in the registries config (or pass --insecure-registry)"
    } else if reason.starts_with(HTTPS_SERVER_REASON) {
        "it serves HTTPS: set `ca_file: CA.pem` for it in the registries config (or `tls_verify: false`), and drop insecure/--insecure-registry"
    } else if lower.contains("received fatal alert")
        && (lower.contains("certificate") || lower.contains("unknownca"))
    {
        // The server refused the handshake over our (missing) certificate; a server
        // certificate we distrust is reported locally ("invalid peer certificate").
        "the registry wants a client certificate it trusts: set `client_cert` and `client_key` for it in the registries config"
    } else if closed && url.starts_with("https://") {
        // With TLS 1.3 a refused client certificate often shows only as a closed connection.
        "the registry closed the TLS connection: check that it is running, and if it requires a client certificate set `client_cert` and `client_key` for it in the registries config"
    } else if reason.starts_with(TLS_REASON) {
        "its certificate is not trusted: set `ca_file: CA.pem` for it in the registries config (or `tls_verify: false` to skip verification), or add the CA to the system trust store"
    } else {
        "check the address and that the registry is running (plain-HTTP registries need `insecure: true` or --insecure-registry)"
    }
}

/// What to do about a refused write, judged from the registry's error code.
fn refused_hint(code: &str) -> &'static str {
    match code {
        "UNSUPPORTED" => {
            "; this registry does not take pushes there (read-only, a pull-through cache, or pushes disabled): choose another target"
        }
        "DENIED" | "UNAUTHORIZED" => "; check that the account may push there (`docker login`)",
        "NAME_INVALID" => "; check the repository name",
        "MANIFEST_BLOB_UNKNOWN" | "BLOB_UNKNOWN" => {
            "; a blob the manifest names is missing in the target: copy again"
        }
        "MANIFEST_INVALID" | "TAG_INVALID" => {
            "; the registry does not accept this manifest (its media type or content)"
        }
        _ => "",
    }
}

/// The reason when plain HTTP reached a server that speaks HTTPS.
pub(crate) const HTTPS_SERVER_REASON: &str =
    "the server speaks HTTPS, not the plain HTTP that was sent";
/// How a TLS failure's reason starts (see `http_policy::brief_reason`).
pub(crate) const TLS_REASON: &str = "TLS error";
/// How the reason starts when an HTTPS request met a plain-HTTP server.
pub(crate) const PLAIN_HTTP_REASON: &str =
    "TLS handshake failed, the server seems to speak plain HTTP";

impl RegistryError {
    /// [`RegistryError::UnverifiableDigest`] when `reference` is pinned by a digest imagectl
    /// cannot check content against (sha384, sha512): what to call before using the pin.
    pub fn require_verifiable(reference: &Reference) -> Result<(), Self> {
        match reference.digest() {
            Some(d) if d.verifiable().is_err() => Err(Self::UnverifiableDigest {
                reference: reference.to_string(),
                algorithm: d.algorithm(),
            }),
            _ => Ok(()),
        }
    }

    /// Whether trying the same operation again later may succeed: lets callers (pull, apply)
    /// decide between retrying or failing the entry, and never treat a transient failure as
    /// "this image is gone".
    pub fn is_retryable(&self) -> bool {
        if let Self::Unreachable { reason, .. } = self {
            // Certificate and protocol mismatches do not heal by waiting.
            return !(reason.starts_with(TLS_REASON)
                || reason.starts_with(PLAIN_HTTP_REASON)
                || reason.starts_with(HTTPS_SERVER_REASON));
        }
        matches!(
            self,
            Self::Body { .. } | Self::TooManyRequests { .. } | Self::Server { .. }
        )
    }

    /// Whether the registry said the thing does not exist (as opposed to failing to answer),
    /// which is the only failure after which a policy may treat a tag as gone.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::ManifestUnknown { .. }
                | Self::BlobUnknown { .. }
                | Self::RepositoryUnknown { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::unreachable_hint;

    /// Every way hyper words a dropped HTTPS connection points at the client certificate.
    #[test]
    fn dropped_https_connection_mentions_client_certificate() {
        for reason in [
            "channel closed",
            "connection closed before message completed",
            "connection reset by peer",
            "broken pipe",
        ] {
            let hint = unreachable_hint(reason, "https://r.example/v2/");
            assert!(hint.contains("client_cert"), "{reason}: {hint}");
            let plain = unreachable_hint(reason, "http://r.example/v2/");
            assert!(!plain.contains("client_cert"), "{reason}: {plain}");
        }
    }
}
