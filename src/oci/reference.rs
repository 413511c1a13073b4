//! Image references (`[registry/]repository[:tag][@digest]`), normalized exactly as docker does:
//! the grammar and normalization of docker's reference library (`distribution/reference`
//! v0.6.0, as the docker CLI uses it), with digests as go-digest accepts them.

use std::fmt;
use std::str::FromStr;

use super::digest::{Digest, DigestError};

/// The registry a name without a registry part belongs to.
pub const DOCKER_HUB: &str = "docker.io";
const LEGACY_DOCKER_HUB: &str = "index.docker.io";
/// The most characters the repository path may have: the path only, without the registry
/// host, as docker counts (`library/` included for an official image).
const MAX_PATH_LEN: usize = 255;
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
    /// A whole input of 64 lowercase hex digits: an image ID, not a name (docker refuses these
    /// as names too; `docker.io/<64 hex>` or `<64 hex>:tag` are names).
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
    /// The repository path (without the registry host) is over 255 characters.
    #[error(
        "invalid reference format {0:?}: repository path longer than 255 characters (the registry host does not count)"
    )]
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
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
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
        if repository.len() > MAX_PATH_LEN {
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

/// docker's `domainAndPort`: a host, then an optional `:` and port digits. The host is a DNS
/// name or IPv4 address (labels of letters, digits and inner `-`, joined by `.`), or an IPv6
/// address in brackets, where docker allows hex digits and colons only (no zone, no dotted
/// IPv4 tail).
fn valid_registry(r: &str) -> bool {
    let (host_ok, port) = match r.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
        Some((address, tail)) => {
            let port = match tail {
                "" => None,
                t => match t.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return false,
                },
            };
            let ok =
                !address.is_empty() && address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
            (ok, port)
        }
        None => match r.split_once(':') {
            Some((host, port)) => (valid_domain_name(host), Some(port)),
            None => (valid_domain_name(r), None),
        },
    };
    host_ok && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Labels of ASCII letters and digits with `-` inside, joined by single dots.
fn valid_domain_name(host: &str) -> bool {
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
mod tests;
