//! Manifests over the distribution API: HEAD to learn what a tag points at cheaply, GET to
//! fetch and verify the bytes.

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};

use super::endpoint::Endpoint;
use super::error::RegistryError;
use super::raw::read_capped;
use super::transport::ApiRequest;
use super::{FetchedManifest, ManifestHead, RegistryClient};
use crate::oci::{Digest, Manifest, Reference, media};

/// No real manifest comes near this; anything larger is refused, not buffered.
pub const MANIFEST_SIZE_CAP: u64 = 4 << 20;
/// The header registries put a manifest's digest in.
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

impl RegistryClient {
    /// GET a manifest by the reference's tag or digest, accepting OCI and Docker indexes and
    /// manifests. The bytes are hashed: a reference's digest and the registry's
    /// `Docker-Content-Digest` must both match, or it is [`RegistryError::DigestMismatch`].
    pub async fn get_manifest(
        &self,
        reference: &Reference,
    ) -> Result<FetchedManifest, RegistryError> {
        RegistryError::require_verifiable(reference)?;
        if let Some(d) = reference.digest()
            && let Some(hit) = self.cached_manifest(&reference.name(), d)
        {
            return Ok(hit);
        }
        let (fetched, served_by) = self
            .read_any(reference.registry(), None, |endpoint| async move {
                self.fetch_manifest(&endpoint, reference).await
            })
            .await?;
        self.note_served(&reference.to_string(), &served_by);
        self.inner
            .manifests
            .lock()
            .expect("manifest cache lock")
            .insert((reference.name(), fetched.digest.clone()), fetched.clone());
        Ok(fetched)
    }

    /// GET and verify a manifest from one endpoint.
    async fn fetch_manifest(
        &self,
        endpoint: &Endpoint,
        reference: &Reference,
    ) -> Result<FetchedManifest, RegistryError> {
        let url = endpoint.manifest_url(reference.repository(), &reference.manifest_reference());
        let req = ApiRequest {
            method: Method::GET,
            endpoint,
            repository: reference.repository(),
            url: &url,
            accept: Some(media::MANIFEST_ACCEPT),
            timeout: Some(super::API_TIMEOUT),
        };
        let resp = self.inner.transport.send(&req).await?;
        check_status(resp.status(), reference, &url)?;
        let content_type = header_str(resp.headers(), CONTENT_TYPE.as_str()).map(str::to_string);
        let announced = announced_digest(resp.headers());
        let bytes = read_capped(resp, MANIFEST_SIZE_CAP, &url)
            .await?
            .ok_or_else(|| RegistryError::ManifestTooLarge {
                reference: reference.to_string(),
                limit: MANIFEST_SIZE_CAP,
            })?;
        let digest = Digest::of(&bytes);
        verify(reference, &digest, announced.as_ref())?;
        let manifest = Manifest::parse(&bytes, content_type.as_deref()).map_err(|source| {
            RegistryError::InvalidManifest {
                reference: reference.to_string(),
                source,
            }
        })?;
        let fetched = FetchedManifest {
            digest,
            media_type: manifest.media_type().to_string(),
            bytes,
            manifest,
        };
        Ok(fetched)
    }

    /// GET a manifest from the registry itself, never from a mirror or the cache: for a
    /// document kept under a tag that other writers move (the replication ledger), where a
    /// stale copy would hide their writes. `None` when it does not exist.
    pub async fn get_manifest_at_origin(
        &self,
        reference: &Reference,
    ) -> Result<Option<FetchedManifest>, RegistryError> {
        RegistryError::require_verifiable(reference)?;
        let endpoint = self.endpoint(reference.registry());
        match self.fetch_manifest(&endpoint, reference).await {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// HEAD a manifest at the registry itself, never a mirror: what a moving tag points at
    /// right now. `None` when it does not exist.
    pub async fn head_manifest_at_origin(
        &self,
        reference: &Reference,
    ) -> Result<Option<Digest>, RegistryError> {
        RegistryError::require_verifiable(reference)?;
        let endpoint = self.endpoint(reference.registry());
        match self.head_manifest_at(&endpoint, reference).await {
            Ok(h) => Ok(Some(h.digest)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(RegistryError::NoDigestHeader { .. }) => Ok(self
                .get_manifest_at_origin(reference)
                .await?
                .map(|m| m.digest)),
            Err(e) => Err(e),
        }
    }

    fn cached_manifest(&self, repository: &str, digest: &Digest) -> Option<FetchedManifest> {
        self.inner
            .manifests
            .lock()
            .expect("manifest cache lock")
            .get(&(repository.to_string(), digest.clone()))
            .cloned()
    }

    /// HEAD a manifest: the digest, media type and size of what the tag points at now, without
    /// a GET (Docker Hub does not count HEADs against its pull rate limit). `None` when the
    /// registry has no such manifest. A registry that omits `Docker-Content-Digest` gives
    /// [`RegistryError::NoDigestHeader`]: fall back to [`RegistryClient::get_manifest`].
    pub async fn head_manifest(
        &self,
        reference: &Reference,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        RegistryError::require_verifiable(reference)?;
        let found = self
            .read_any(reference.registry(), None, |endpoint| async move {
                self.head_manifest_at(&endpoint, reference).await
            })
            .await;
        match found {
            Ok((head, served_by)) => {
                self.note_served(&reference.to_string(), &served_by);
                Ok(Some(head))
            }
            Err(RegistryError::ManifestUnknown { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// What `reference` points at now: one HEAD, or a GET (kept in the manifest cache) from
    /// a registry that sends no digest on HEAD. `None` when it does not exist.
    pub async fn current_digest(
        &self,
        reference: &Reference,
    ) -> Result<Option<Digest>, RegistryError> {
        match self.head_manifest(reference).await {
            Ok(head) => Ok(head.map(|h| h.digest)),
            Err(RegistryError::NoDigestHeader { .. }) => match self.get_manifest(reference).await {
                Ok(m) => Ok(Some(m.digest)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// HEAD a manifest at one endpoint; 404 is [`RegistryError::ManifestUnknown`].
    async fn head_manifest_at(
        &self,
        endpoint: &Endpoint,
        reference: &Reference,
    ) -> Result<ManifestHead, RegistryError> {
        let url = endpoint.manifest_url(reference.repository(), &reference.manifest_reference());
        let req = ApiRequest {
            method: Method::HEAD,
            endpoint,
            repository: reference.repository(),
            url: &url,
            accept: Some(media::MANIFEST_ACCEPT),
            timeout: Some(super::API_TIMEOUT),
        };
        let resp = self.inner.transport.send(&req).await?;
        check_status(resp.status(), reference, &url)?;
        let headers = resp.headers();
        let no_digest = || RegistryError::NoDigestHeader {
            reference: reference.to_string(),
        };
        let digest = announced_digest(headers).ok_or_else(no_digest)?;
        verify(reference, &digest, None)?;
        let media_type = header_str(headers, CONTENT_TYPE.as_str())
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let size = header_str(headers, CONTENT_LENGTH.as_str())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| RegistryError::InvalidResponse {
                url: url.clone(),
                reason: "HEAD response without Content-Length".into(),
            })?;
        Ok(ManifestHead {
            digest,
            media_type,
            size,
        })
    }
}

/// 200 is the only success; 404 means the manifest (or repository) is unknown.
fn check_status(status: StatusCode, reference: &Reference, url: &str) -> Result<(), RegistryError> {
    match status {
        StatusCode::OK => Ok(()),
        StatusCode::NOT_FOUND => Err(RegistryError::ManifestUnknown {
            reference: reference.to_string(),
        }),
        s => Err(RegistryError::UnexpectedStatus {
            url: url.to_string(),
            status: s.as_u16(),
        }),
    }
}

/// Check `actual` against the digest the reference pins and the one the registry announced.
fn verify(
    reference: &Reference,
    actual: &Digest,
    announced: Option<&Digest>,
) -> Result<(), RegistryError> {
    let mismatch = |expected: &Digest, what| RegistryError::DigestMismatch {
        reference: reference.to_string(),
        expected: expected.clone(),
        actual: actual.clone(),
        what,
    };
    if let Some(want) = reference.digest()
        && want != actual
    {
        return Err(mismatch(want, "requested"));
    }
    if let Some(said) = announced
        && said != actual
    {
        return Err(mismatch(said, "announced in Docker-Content-Digest"));
    }
    Ok(())
}

/// The `Docker-Content-Digest` header, when present and a digest we can check (sha256).
fn announced_digest(headers: &HeaderMap) -> Option<Digest> {
    let value = header_str(headers, DOCKER_CONTENT_DIGEST)?;
    match value.trim().parse::<Digest>() {
        Ok(d) => match d.verifiable() {
            Ok(()) => Some(d),
            Err(e) => {
                tracing::debug!("ignoring Docker-Content-Digest {value:?}: {e}");
                None
            }
        },
        Err(e) => {
            tracing::debug!("ignoring Docker-Content-Digest {value:?}: {e}");
            None
        }
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digest_verification() {
        let empty = Digest::of(b"");
        let other = Digest::of(b"x");
        let by_tag = Reference::parse("127.0.0.1:5000/a:t").unwrap();
        let by_digest = Reference::parse(&format!("127.0.0.1:5000/a@{D}")).unwrap();
        assert!(verify(&by_tag, &empty, None).is_ok());
        assert!(verify(&by_tag, &empty, Some(&empty)).is_ok());
        assert!(verify(&by_digest, &empty, Some(&empty)).is_ok());
        let e = verify(&by_digest, &other, None).unwrap_err();
        assert!(
            matches!(
                e,
                RegistryError::DigestMismatch {
                    what: "requested",
                    ..
                }
            ),
            "{e}"
        );
        let e = verify(&by_tag, &other, Some(&empty)).unwrap_err();
        assert!(e.to_string().contains("Docker-Content-Digest"), "{e}");
    }

    /// A reference pinned to a sha512 or sha384 digest is refused before any request, in one
    /// line naming the reference and the algorithm; sha256 pins and tags pass.
    #[test]
    fn unverifiable_pins_are_refused_up_front() {
        for (alg, n) in [("sha512", 128), ("sha384", 96)] {
            let r =
                Reference::parse(&format!("127.0.0.1:5000/a:t@{alg}:{}", "f".repeat(n))).unwrap();
            let e = RegistryError::require_verifiable(&r).unwrap_err();
            assert!(
                e.to_string().starts_with(&format!(
                    "manifest for {r}: {alg} content cannot be verified by imagectl yet"
                )),
                "{e}"
            );
        }
        let by_digest = Reference::parse(&format!("127.0.0.1:5000/a@{D}")).unwrap();
        assert!(RegistryError::require_verifiable(&by_digest).is_ok());
        assert!(RegistryError::require_verifiable(&Reference::parse("a:t").unwrap()).is_ok());
    }

    #[test]
    fn unusable_digest_headers_are_ignored() {
        let mut h = HeaderMap::new();
        assert_eq!(announced_digest(&h), None);
        h.insert(DOCKER_CONTENT_DIGEST, "sha512:abcd".parse().unwrap());
        assert_eq!(announced_digest(&h), None);
        // A well-formed sha512 cannot be checked against sha256 bytes either.
        let sha512 = format!("sha512:{}", "f".repeat(128));
        h.insert(DOCKER_CONTENT_DIGEST, sha512.parse().unwrap());
        assert_eq!(announced_digest(&h), None);
        h.insert(DOCKER_CONTENT_DIGEST, D.parse().unwrap());
        assert_eq!(announced_digest(&h), Some(D.parse().unwrap()));
    }
}
