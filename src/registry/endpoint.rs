//! Where a registry named in a reference is served: scheme, host and the `/v2/` base URL.

use std::net::Ipv4Addr;

/// The registry a reference names when it names none.
const DOCKER_HUB: &str = "docker.io";
/// The host that serves `docker.io`.
const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// A registry's address: the name references use and the base URL requests go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The registry as references name it (`docker.io`, `127.0.0.1:5000`): the key for
    /// credentials, tokens and error messages.
    pub(crate) registry: String,
    /// `scheme://host[:port]`, without a trailing slash.
    pub(crate) origin: String,
}

impl Endpoint {
    /// Resolve a registry name. Plain HTTP only for loopback hosts (as docker does) and for
    /// registries the user marked insecure; HTTPS for everything else, never downgraded.
    pub(crate) fn resolve(registry: &str, insecure_registries: &[String]) -> Self {
        let host = if registry == DOCKER_HUB {
            DOCKER_HUB_HOST
        } else {
            registry
        };
        let plain_http = is_loopback(registry)
            || insecure_registries
                .iter()
                .any(|r| same_registry(r, registry));
        let scheme = if plain_http { "http" } else { "https" };
        Self {
            registry: registry.to_string(),
            origin: format!("{scheme}://{host}"),
        }
    }

    /// Whether requests go over plain HTTP.
    pub(crate) fn is_plain_http(&self) -> bool {
        self.origin.starts_with("http://")
    }

    /// `…/v2/<repository>/manifests/<reference>`.
    pub(crate) fn manifest_url(&self, repository: &str, reference: &str) -> String {
        format!("{}/v2/{repository}/manifests/{reference}", self.origin)
    }

    /// `…/v2/<repository>/blobs/<digest>`.
    pub(crate) fn blob_url(&self, repository: &str, digest: &str) -> String {
        format!("{}/v2/{repository}/blobs/{digest}", self.origin)
    }

    /// `…/v2/<repository>/tags/list`.
    pub(crate) fn tags_url(&self, repository: &str) -> String {
        format!("{}/v2/{repository}/tags/list", self.origin)
    }
}

/// Whether an `--insecure-registry` entry names `registry`. Entries may carry a scheme or a
/// trailing slash, as people paste them from URLs.
fn same_registry(entry: &str, registry: &str) -> bool {
    let entry = entry.trim();
    let entry = entry
        .strip_prefix("http://")
        .or_else(|| entry.strip_prefix("https://"))
        .unwrap_or(entry)
        .trim_end_matches('/');
    entry == registry || (registry == DOCKER_HUB && entry == DOCKER_HUB_HOST)
}

/// `localhost`, `127.0.0.0/8` or `[::1]`, with or without a port.
fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        return rest
            .split_once(']')
            .and_then(|(v6, _)| v6.parse::<std::net::Ipv6Addr>().ok())
            .is_some_and(|ip| ip.is_loopback());
    } else {
        registry.split_once(':').map_or(registry, |(h, _)| h)
    };
    host == "localhost" || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_selection() {
        let insecure = vec![
            "harbor.internal:30002".to_string(),
            "http://plain.example/".to_string(),
        ];
        let cases = [
            ("docker.io", "https://registry-1.docker.io"),
            ("quay.io", "https://quay.io"),
            ("localhost", "http://localhost"),
            ("localhost:5000", "http://localhost:5000"),
            ("127.0.0.1:5000", "http://127.0.0.1:5000"),
            ("127.8.9.10", "http://127.8.9.10"),
            ("[::1]:5000", "http://[::1]:5000"),
            ("[::2]:5000", "https://[::2]:5000"),
            ("128.0.0.1:5000", "https://128.0.0.1:5000"),
            ("localhost.example.com", "https://localhost.example.com"),
            ("harbor.internal:30002", "http://harbor.internal:30002"),
            ("harbor.internal", "https://harbor.internal"),
            ("harbor.internal:443", "https://harbor.internal:443"),
            ("plain.example", "http://plain.example"),
        ];
        for (registry, origin) in cases {
            let e = Endpoint::resolve(registry, &insecure);
            assert_eq!(e.origin, origin, "{registry}");
            assert_eq!(e.registry, registry);
        }
    }

    #[test]
    fn urls() {
        let e = Endpoint::resolve("docker.io", &[]);
        assert_eq!(
            e.manifest_url("library/nginx", "1.25"),
            "https://registry-1.docker.io/v2/library/nginx/manifests/1.25"
        );
        assert_eq!(
            e.tags_url("library/nginx"),
            "https://registry-1.docker.io/v2/library/nginx/tags/list"
        );
        assert!(!e.is_plain_http());
        assert!(Endpoint::resolve("localhost:1", &[]).is_plain_http());
    }
}
