//! Where a registry named in a reference is served: its mirrors (for reads) and itself,
//! each as scheme, host, path prefix and the HTTP client its TLS settings call for.

use super::settings::{DOCKER_HUB, Mirror, ProfileClients, RegistrySettings};

/// The host that serves `docker.io`.
const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// One place requests for a registry's repositories go to: the registry itself or one of
/// its mirrors.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    /// The key for credentials, tokens and error messages: the registry as references name
    /// it (`docker.io`, `127.0.0.1:5000`), or a mirror's `host[:port]`.
    pub(crate) registry: String,
    /// `scheme://host[:port]`, without a trailing slash.
    pub(crate) origin: String,
    /// Put before repository paths (`dockerhub/`), empty or ending with `/`.
    pub(crate) prefix: String,
    /// The client with this endpoint's TLS profile.
    pub(crate) http: reqwest::Client,
    /// The same TLS profile without a read timeout, for streamed uploads.
    pub(crate) uploads: reqwest::Client,
    /// Whether this is a mirror (reads only; its content is verified like any other).
    pub(crate) mirror: bool,
}

impl Endpoint {
    /// The registry itself. Plain HTTP when its settings say `insecure: true`, or (with no
    /// TLS setting at all) for loopback hosts as docker does; HTTPS otherwise, never
    /// downgraded.
    pub(crate) fn upstream(
        registry: &str,
        settings: &RegistrySettings,
        clients: ProfileClients,
    ) -> Self {
        let host = if registry == DOCKER_HUB {
            DOCKER_HUB_HOST
        } else {
            registry
        };
        let scheme = if settings.plain_http(registry) {
            "http"
        } else {
            "https"
        };
        Self {
            registry: registry.to_string(),
            origin: format!("{scheme}://{host}"),
            prefix: String::new(),
            http: clients.http,
            uploads: clients.uploads,
            mirror: false,
        }
    }

    /// A mirror: its URL says the scheme; its own `registries:` entry (keyed by its host)
    /// gives its credentials and TLS settings.
    pub(crate) fn mirror(mirror: &Mirror, clients: ProfileClients) -> Self {
        Self {
            registry: mirror.host.clone(),
            origin: format!("{}://{}", mirror.scheme, mirror.host),
            prefix: if mirror.prefix.is_empty() {
                String::new()
            } else {
                format!("{}/", mirror.prefix)
            },
            http: clients.http,
            uploads: clients.uploads,
            mirror: true,
        }
    }

    /// Whether requests go over plain HTTP.
    pub(crate) fn is_plain_http(&self) -> bool {
        self.origin.starts_with("http://")
    }

    /// The repository path as this endpoint knows it (with the mirror's prefix): what URLs
    /// and token scopes name.
    pub(crate) fn path(&self, repository: &str) -> String {
        format!("{}{repository}", self.prefix)
    }

    /// `scheme://host[/prefix]`: names this endpoint in messages and mirror bookkeeping.
    pub(crate) fn url(&self) -> String {
        format!("{}/{}", self.origin, self.prefix)
            .trim_end_matches('/')
            .to_string()
    }

    /// `mirror URL` or `URL`, for messages saying which endpoint served what.
    pub(crate) fn label(&self) -> String {
        if self.mirror {
            format!("mirror {}", self.url())
        } else {
            self.url()
        }
    }

    /// `…/v2/<prefix><repository>/manifests/<reference>`.
    pub(crate) fn manifest_url(&self, repository: &str, reference: &str) -> String {
        format!(
            "{}/v2/{}/manifests/{reference}",
            self.origin,
            self.path(repository)
        )
    }

    /// `…/v2/<prefix><repository>/blobs/<digest>`.
    pub(crate) fn blob_url(&self, repository: &str, digest: &str) -> String {
        format!(
            "{}/v2/{}/blobs/{digest}",
            self.origin,
            self.path(repository)
        )
    }

    /// `…/v2/<prefix><repository>/referrers/<digest>` (OCI distribution 1.1).
    pub(crate) fn referrers_url(&self, repository: &str, digest: &str) -> String {
        format!(
            "{}/v2/{}/referrers/{digest}",
            self.origin,
            self.path(repository)
        )
    }

    /// `…/v2/<prefix><repository>/tags/list`.
    pub(crate) fn tags_url(&self, repository: &str) -> String {
        format!("{}/v2/{}/tags/list", self.origin, self.path(repository))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_clients() -> ProfileClients {
        ProfileClients {
            http: reqwest::Client::new(),
            uploads: reqwest::Client::new(),
        }
    }

    fn origin(registry: &str, insecure: Option<bool>) -> String {
        let s = RegistrySettings {
            insecure,
            ..Default::default()
        };
        Endpoint::upstream(registry, &s, test_clients()).origin
    }

    #[test]
    fn scheme_selection() {
        let cases = [
            ("docker.io", None, "https://registry-1.docker.io"),
            ("quay.io", None, "https://quay.io"),
            ("localhost", None, "http://localhost"),
            ("localhost:5000", None, "http://localhost:5000"),
            ("127.0.0.1:5000", None, "http://127.0.0.1:5000"),
            ("127.8.9.10", None, "http://127.8.9.10"),
            ("[::1]:5000", None, "http://[::1]:5000"),
            ("[::2]:5000", None, "https://[::2]:5000"),
            ("128.0.0.1:5000", None, "https://128.0.0.1:5000"),
            (
                "localhost.example.com",
                None,
                "https://localhost.example.com",
            ),
            (
                "harbor.internal:30002",
                Some(true),
                "http://harbor.internal:30002",
            ),
            ("harbor.internal", None, "https://harbor.internal"),
            ("127.0.0.1:5000", Some(false), "https://127.0.0.1:5000"),
        ];
        for (registry, insecure, want) in cases {
            assert_eq!(origin(registry, insecure), want, "{registry}");
        }
    }

    #[test]
    fn urls_and_prefixes() {
        let e = Endpoint::upstream("docker.io", &RegistrySettings::default(), test_clients());
        assert_eq!(
            e.manifest_url("library/nginx", "1.25"),
            "https://registry-1.docker.io/v2/library/nginx/manifests/1.25"
        );
        assert_eq!(
            e.tags_url("library/nginx"),
            "https://registry-1.docker.io/v2/library/nginx/tags/list"
        );
        assert!(!e.is_plain_http());
        assert_eq!(e.label(), "https://registry-1.docker.io");
        let m = Mirror::parse("https://harbor.example/dockerhub").unwrap();
        let e = Endpoint::mirror(&m, test_clients());
        assert_eq!(
            e.blob_url("library/nginx", "sha256:00"),
            "https://harbor.example/v2/dockerhub/library/nginx/blobs/sha256:00"
        );
        assert_eq!(e.path("library/nginx"), "dockerhub/library/nginx");
        assert_eq!(e.registry, "harbor.example");
        assert_eq!(e.label(), "mirror https://harbor.example/dockerhub");
    }
}
