//! Writing and deleting manifests (`/v2/<name>/manifests/<reference>`): the step that makes
//! a tag point at content, and the safe removal of one tag.

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};

use super::RegistryClient;
use super::error::RegistryError;
use super::refusal::{error_code, refused};
use super::transport::{ApiRequest, Payload};
use super::upload::push_scope;
use crate::oci::{Digest, Reference};

/// Pushing one manifest should never take longer.
const MANIFEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
/// Retries of a manifest PUT refused because the registry misread a blob a concurrent
/// writer was committing (see [`RegistryClient::put_manifest`]).
const MANIFEST_RACE_RETRIES: u32 = 3;
/// Error bodies are small JSON documents.
const ERROR_BODY_CAP: u64 = 64 << 10;

/// What [`RegistryClient::delete_tag`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The tag is gone (deleted as a tag, or its manifest deleted by digest because no other
    /// tag pointed at it).
    Deleted,
    /// The tag did not exist: nothing to do.
    AlreadyAbsent,
    /// The registry cannot delete a tag alone and these other tags point at the same
    /// manifest, so deleting it by digest would remove them too: nothing was deleted.
    KeptShared {
        /// The other tags sharing the digest, sorted.
        tags: Vec<String>,
    },
}

impl RegistryClient {
    /// PUT a manifest (exact bytes, declared `media_type`) under `repo`'s tag or digest, after
    /// its blobs and children are in the repository. Returns its digest; a registry whose
    /// `Docker-Content-Digest` differs from sha256 of `bytes` rewrote it, which is
    /// [`RegistryError::PushDigestMismatch`] (a copy must preserve digests).
    pub async fn put_manifest(
        &self,
        repo: &Reference,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest, RegistryError> {
        RegistryError::require_verifiable(repo)?;
        let expected = Digest::of(&bytes);
        if let Some(pinned) = repo.digest()
            && *pinned != expected
        {
            return Err(RegistryError::PushDigestMismatch {
                reference: repo.to_string(),
                expected: pinned.clone(),
                actual: expected,
            });
        }
        let endpoint = self.endpoint(repo.registry());
        let url = endpoint.manifest_url(repo.repository(), &repo.manifest_reference());
        let req = ApiRequest {
            method: Method::PUT,
            endpoint: &endpoint,
            repository: repo.repository(),
            url: &url,
            accept: None,
            timeout: Some(MANIFEST_TIMEOUT),
        };
        let mut headers = HeaderMap::new();
        let content_type =
            HeaderValue::from_str(media_type).map_err(|_| RegistryError::Refused {
                what: format!("manifest {repo}"),
                status: 0,
                code: "-".into(),
                message: format!("media type {media_type:?} is not a valid header"),
            })?;
        headers.insert(CONTENT_TYPE, content_type);
        let mut attempt = 0;
        let resp = loop {
            // A manifest PUT is idempotent: the same bytes under the same reference.
            let resp = self
                .inner
                .transport
                .send_with(
                    &req,
                    &push_scope(repo),
                    headers.clone(),
                    Payload::Bytes(bytes.clone()),
                    true,
                )
                .await?;
            if resp.status() == StatusCode::CREATED {
                break resp;
            }
            let err = refused(resp, format!("manifest {repo}")).await;
            // The digest was computed here from the bytes sent, so the registry cannot
            // mean them: distribution's filesystem driver rewrites a blob's link file in
            // place when another writer commits the same blob, and a manifest PUT that
            // reads the link mid-write answers DIGEST_INVALID. Seen with concurrent
            // ledger writers; the same PUT moments later succeeds.
            if attempt < MANIFEST_RACE_RETRIES
                && matches!(&err, RegistryError::Refused { code, .. } if code == "DIGEST_INVALID")
            {
                tracing::debug!(%repo, attempt, "manifest PUT raced a concurrent blob commit; retrying");
                tokio::time::sleep(super::backoff(attempt)).await;
                attempt += 1;
                continue;
            }
            return Err(err);
        };
        if let Some(announced) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<Digest>().ok())
            // Only a sha256 can be compared with the bytes sent.
            .filter(|d| d.verifiable().is_ok())
            && announced != expected
        {
            return Err(RegistryError::PushDigestMismatch {
                reference: repo.to_string(),
                expected,
                actual: announced,
            });
        }
        Ok(expected)
    }

    /// Delete ONE tag, never another tag's image. Tries `DELETE /manifests/<tag>` (OCI
    /// distribution 1.1, distribution 3, Harbor). A registry that cannot delete tags
    /// (distribution 2.8 answers 400 `DIGEST_INVALID`; others 404 or 405 `UNSUPPORTED` for
    /// the tag form) gets the fallback: the tag's digest is deleted only when no other tag
    /// of the repository points at it ([`DeleteOutcome::KeptShared`] otherwise, since a
    /// delete by digest drops every tag on it). A registry with deletes disabled is
    /// [`RegistryError::DeleteUnsupported`]. The fallback costs one tag listing and one
    /// manifest HEAD per tag of the repository.
    pub async fn delete_tag(&self, repo: &Reference) -> Result<DeleteOutcome, RegistryError> {
        let Some(tag) = repo.tag() else {
            return Err(RegistryError::Refused {
                what: format!("deleting {repo}"),
                status: 0,
                code: "-".into(),
                message: "delete_tag needs a tag reference".into(),
            });
        };
        let tag_ref = repo.without_digest();
        let Some(head) = self.head_manifest(&tag_ref).await? else {
            return Ok(DeleteOutcome::AlreadyAbsent);
        };
        match self.delete_manifest(&tag_ref).await? {
            Deleted::Yes => return Ok(DeleteOutcome::Deleted),
            Deleted::Absent => return Ok(DeleteOutcome::AlreadyAbsent),
            Deleted::TagFormRefused => {}
        }
        let mut shared = Vec::new();
        for other in self.list_tags(&tag_ref).await? {
            if other == tag {
                continue;
            }
            let other_ref =
                tag_ref
                    .with_tag(&other)
                    .map_err(|e| RegistryError::InvalidResponse {
                        url: repo.name(),
                        reason: format!("tag list holds an invalid tag: {e}"),
                    })?;
            if let Some(h) = self.head_manifest(&other_ref).await?
                && h.digest == head.digest
            {
                shared.push(other);
            }
        }
        if !shared.is_empty() {
            shared.sort();
            return Ok(DeleteOutcome::KeptShared { tags: shared });
        }
        match self
            .delete_manifest(&tag_ref.with_digest(head.digest))
            .await?
        {
            Deleted::Yes => Ok(DeleteOutcome::Deleted),
            Deleted::Absent => Ok(DeleteOutcome::AlreadyAbsent),
            Deleted::TagFormRefused => Err(RegistryError::DeleteUnsupported {
                registry: repo.registry().to_string(),
                repository: repo.repository().to_string(),
            }),
        }
    }

    /// Delete the manifest `repo` pins by digest (and with it every tag on it): for content
    /// only imagectl names, such as the referrers it carried with a tag it deletes. `false`
    /// when it was not there.
    pub async fn delete_manifest_by_digest(&self, repo: &Reference) -> Result<bool, RegistryError> {
        if repo.digest().is_none() {
            return Err(RegistryError::Refused {
                what: format!("deleting {repo}"),
                status: 0,
                code: "-".into(),
                message: "delete_manifest_by_digest needs a digest reference".into(),
            });
        }
        match self.delete_manifest(repo).await? {
            Deleted::Yes => Ok(true),
            Deleted::Absent => Ok(false),
            Deleted::TagFormRefused => Err(RegistryError::DeleteUnsupported {
                registry: repo.registry().to_string(),
                repository: repo.repository().to_string(),
            }),
        }
    }

    async fn delete_manifest(&self, repo: &Reference) -> Result<Deleted, RegistryError> {
        let endpoint = self.endpoint(repo.registry());
        let url = endpoint.manifest_url(repo.repository(), &repo.manifest_reference());
        let req = ApiRequest {
            method: Method::DELETE,
            endpoint: &endpoint,
            repository: repo.repository(),
            url: &url,
            accept: None,
            timeout: Some(MANIFEST_TIMEOUT),
        };
        let scope = format!("repository:{}:delete", repo.repository());
        let resp = self.inner.transport.send_scoped(&req, &scope).await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(Deleted::Yes);
        }
        let by_tag = repo.digest().is_none();
        let body = super::raw::read_capped(resp, ERROR_BODY_CAP, &url)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let code = error_code(&body).map(|(c, _)| c).unwrap_or_default();
        let unsupported = || RegistryError::DeleteUnsupported {
            registry: repo.registry().to_string(),
            repository: repo.repository().to_string(),
        };
        match (status, code.as_str()) {
            // distribution 2.8 parses the tag as a digest and fails.
            (StatusCode::BAD_REQUEST, "DIGEST_INVALID") if by_tag => Ok(Deleted::TagFormRefused),
            (StatusCode::METHOD_NOT_ALLOWED, _) if by_tag => {
                // Deletes disabled altogether, or only the tag form: the digest form tells.
                Ok(Deleted::TagFormRefused)
            }
            (StatusCode::METHOD_NOT_ALLOWED, _) => Err(unsupported()),
            (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN") if !by_tag => Ok(Deleted::Absent),
            (StatusCode::NOT_FOUND, _) if by_tag => Ok(Deleted::TagFormRefused),
            (StatusCode::NOT_FOUND, _) => Ok(Deleted::Absent),
            _ => Err(RegistryError::Refused {
                what: format!("deleting {repo}"),
                status: status.as_u16(),
                code: if code.is_empty() { "-".into() } else { code },
                message: String::new(),
            }),
        }
    }
}

/// What one DELETE of a manifest did.
enum Deleted {
    Yes,
    Absent,
    /// The registry does not delete by tag (or deletes are off: the digest form tells).
    TagFormRefused,
}
