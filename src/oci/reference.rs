//! Image references (`[registry/]repository[:tag][@digest]`), normalized exactly as docker does.

use std::fmt;
use std::str::FromStr;

use super::digest::{Digest, DigestError};

/// The registry a name without a registry part belongs to.
pub const DOCKER_HUB: &str = "docker.io";
const LEGACY_DOCKER_HUB: &str = "index.docker.io";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// Why a string is not an image reference. Each message names the input and the rule.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// Nothing to parse.
    #[error("invalid reference format: empty reference")]
    Empty,
    /// Upper-case letters in the repository path.
    #[error("invalid reference format {0:?}: repository name must be lowercase")]
    Uppercase(String),
    /// A 64-hex string: an image ID, not a name (docker refuses these as names too).
    #[error(
        "invalid reference format {0:?}: a 64-character hexadecimal string is an image ID, not a repository name"
    )]
    LooksLikeId(String),
    /// A malformed registry host or port.
    #[error("invalid reference format {input:?}: bad registry host {host:?}")]
    BadRegistry {
        /// The whole input.
        input: String,
        /// The registry part.
        host: String,
    },
    /// A repository path component that breaks docker's grammar.
    #[error(
        "invalid reference format {input:?}: bad repository path component {component:?} (lowercase letters, digits and single separators . _ __ - only)"
    )]
    BadComponent {
        /// The whole input.
        input: String,
        /// The offending component.
        component: String,
    },
    /// A tag that breaks `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error(
        "invalid reference format {input:?}: bad tag {tag:?} (letters, digits, _ . - up to 128 characters, not starting with . or -)"
    )]
    BadTag {
        /// The whole input.
        input: String,
        /// The offending tag.
        tag: String,
    },
    /// The repository name is over 255 characters.
    #[error("invalid reference format {0:?}: repository name longer than 255 characters")]
    TooLong(String),
    /// The part after `@` is not a digest.
    #[error("invalid reference format {input:?}: {source}")]
    Digest {
        /// The whole input.
        input: String,
        /// Why the digest is not one.
        source: DigestError,
    },
}

/// A fully qualified image reference. Fields are only reachable through accessors so a
/// `Reference` always satisfies the grammar; `Display` prints the normalized long form
/// (`docker.io/library/nginx:latest`), the form stored in the embedded store.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parse like `docker pull`: a reference without tag or digest gets `:latest`.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let mut r = Self::parse_loose(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some("latest".to_string());
        }
        Ok(r)
    }

    /// Parse without adding `:latest`, for filters and repository names.
    pub fn parse_loose(s: &str) -> Result<Self, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let input = s.to_string();
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (
                n,
                Some(
                    d.parse::<Digest>()
                        .map_err(|source| ReferenceError::Digest {
                            input: input.clone(),
                            source,
                        })?,
                ),
            ),
            None => (s, None),
        };
        let last_slash = name_tag.rfind('/');
        let (name, tag) = match name_tag.rfind(':') {
            Some(colon) if last_slash.is_none_or(|sl| colon > sl) => {
                (&name_tag[..colon], Some(&name_tag[colon + 1..]))
            }
            _ => (name_tag, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(ReferenceError::BadTag {
                input,
                tag: tag.to_string(),
            });
        }
        if name.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReferenceError::LooksLikeId(input));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                (first, rest)
            }
            _ => (DOCKER_HUB, name),
        };
        if !valid_registry(registry) {
            return Err(ReferenceError::BadRegistry {
                input,
                host: registry.to_string(),
            });
        }
        let registry = if registry == LEGACY_DOCKER_HUB {
            DOCKER_HUB
        } else {
            registry
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(input));
        }
        for component in path.split('/') {
            if !valid_component(component) {
                return Err(ReferenceError::BadComponent {
                    input,
                    component: component.to_string(),
                });
            }
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(ReferenceError::TooLong(input));
        }
        Ok(Self {
            registry: registry.to_string(),
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The registry host with optional port, e.g. `docker.io` or `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry, e.g. `library/nginx`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository`, the long repository name.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short name docker prints (`nginx`, `user/app`, `host:5000/app`).
    pub fn familiar_name(&self) -> String {
        if self.registry == DOCKER_HUB {
            self.repository
                .strip_prefix("library/")
                .filter(|rest| !rest.contains('/'))
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            self.name()
        }
    }

    /// The whole reference in docker's short form (`nginx:1.25`, `user/app@sha256:…`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }

    /// The same repository with `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError::BadTag {
                input: format!("{}:{tag}", self.name()),
                tag: tag.to_string(),
            });
        }
        Ok(Self {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository pinned to `digest`, keeping the tag.
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same reference without a digest (`name:tag`), as stored for a tag.
    pub fn without_digest(&self) -> Self {
        Self {
            digest: None,
            ..self.clone()
        }
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Read back exactly what `Serialize` wrote: a full reference (no `:latest` added).
impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse_loose(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

/// `alnum+ (separator alnum+)*` with separator `.`, `_`, `__` or `-+`.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_lowercase() || b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !(b[i].is_ascii_lowercase() || b[i].is_ascii_digit()) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port.
fn valid_registry(r: &str) -> bool {
    let (host, port) = if let Some(rest) = r.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) => {
                if v6.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                match tail {
                    "" => return true,
                    t => match t.strip_prefix(':') {
                        Some(p) => ("x", Some(p)),
                        None => return false,
                    },
                }
            }
            None => return false,
        }
    } else {
        match r.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (r, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalizes_like_docker() {
        let cases = [
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.23", "docker.io/library/nginx:1.23"),
            ("library/nginx", "docker.io/library/nginx:latest"),
            ("user/app", "docker.io/user/app:latest"),
            ("docker.io/nginx", "docker.io/library/nginx:latest"),
            ("index.docker.io/nginx:1", "docker.io/library/nginx:1"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/app:v1", "localhost:5000/app:v1"),
            ("127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c:t"),
            (
                "172.16.0.120:30002/mirror/library/nginx:1.25",
                "172.16.0.120:30002/mirror/library/nginx:1.25",
            ),
            (
                "quay.io/prometheus/node-exporter",
                "quay.io/prometheus/node-exporter:latest",
            ),
            ("ghcr.io/a/b__c/d-e.f:1.0_rc", "ghcr.io/a/b__c/d-e.f:1.0_rc"),
            ("Registry/app", "Registry/app:latest"),
            ("[::1]:5000/app", "[::1]:5000/app:latest"),
            ("a--b", "docker.io/library/a--b:latest"),
            ("busybox:_x", "docker.io/library/busybox:_x"),
        ];
        for (input, want) in cases {
            let got = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got.to_string(), want, "{input}");
        }
    }

    #[test]
    fn digests_and_tags() {
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{D}"));
        assert_eq!(r.tag(), None);
        assert_eq!(r.manifest_reference(), D);
        let r = Reference::parse(&format!("busybox:1.36@{D}")).unwrap();
        assert_eq!(r.tag(), Some("1.36"));
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.manifest_reference(), D);
        assert_eq!(
            r.without_digest().to_string(),
            "docker.io/library/busybox:1.36"
        );
    }

    #[test]
    fn familiar_names() {
        for (input, want) in [
            ("nginx", "nginx"),
            ("user/app", "user/app"),
            ("docker.io/library/a/b", "library/a/b"),
            ("localhost:5000/app", "localhost:5000/app"),
        ] {
            assert_eq!(Reference::parse(input).unwrap().familiar_name(), want);
        }
        assert_eq!(
            Reference::parse("nginx").unwrap().familiar(),
            "nginx:latest"
        );
    }

    #[test]
    fn rejects_invalid() {
        use ReferenceError::*;
        let id = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        type Check = fn(&ReferenceError) -> bool;
        let cases: Vec<(String, Check)> = vec![
            ("".into(), |e| matches!(e, Empty)),
            (":tag".into(), |e| matches!(e, Empty)),
            ("Nginx".into(), |e| matches!(e, Uppercase(_))),
            ("docker.io/Library/nginx".into(), |e| {
                matches!(e, Uppercase(_))
            }),
            ("nginx:".into(), |e| matches!(e, BadTag { .. })),
            ("nginx:-x".into(), |e| matches!(e, BadTag { .. })),
            ("nginx:a/b".into(), |e| matches!(e, BadRegistry { .. })),
            (format!("nginx:{}", "a".repeat(129)), |e| {
                matches!(e, BadTag { .. })
            }),
            ("nginx@sha256:abc".into(), |e| matches!(e, Digest { .. })),
            ("nginx@".into(), |e| matches!(e, Digest { .. })),
            ("a//b".into(), |e| matches!(e, BadComponent { .. })),
            ("a/b/".into(), |e| matches!(e, BadComponent { .. })),
            ("-a".into(), |e| matches!(e, BadComponent { .. })),
            ("a_-b".into(), |e| matches!(e, BadComponent { .. })),
            ("a...b".into(), |e| matches!(e, BadComponent { .. })),
            ("a___b".into(), |e| matches!(e, BadComponent { .. })),
            ("host:port/app".into(), |e| matches!(e, BadRegistry { .. })),
            ("-host.io/app".into(), |e| matches!(e, BadRegistry { .. })),
            ("[zz]:5000/app".into(), |e| matches!(e, BadRegistry { .. })),
            (id.into(), |e| matches!(e, LooksLikeId(_))),
            (format!("a/{}", "b".repeat(260)), |e| {
                matches!(e, TooLong(_))
            }),
            ("nginx latest".into(), |e| matches!(e, BadComponent { .. })),
        ];
        for (input, check) in cases {
            match Reference::parse(&input) {
                Ok(r) => panic!("{input:?} parsed as {r}"),
                Err(e) => {
                    assert!(check(&e), "{input:?}: unexpected error {e:?}");
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }

    #[test]
    fn loose_parse_keeps_missing_tag() {
        let r = Reference::parse_loose("nginx").unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.to_string(), "docker.io/library/nginx");
    }
}
