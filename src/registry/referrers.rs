//! The OCI 1.1 referrers API (`GET /v2/<name>/referrers/<digest>`): the signatures,
//! attestations and SBOMs whose manifest names a given manifest as its `subject`.

use reqwest::{Method, StatusCode};

use super::RegistryClient;
use super::error::RegistryError;
use super::manifest::MANIFEST_SIZE_CAP;
use super::raw::read_capped;
use super::transport::ApiRequest;
use crate::oci::{Digest, Reference, media};

impl RegistryClient {
    /// The descriptors (as the registry wrote them: `artifactType` and `annotations` kept)
    /// of the manifests referring to `digest` in `repo`'s repository, from the registry
    /// itself. `None` when the registry has no referrers API: a 404 (distribution 2.8
    /// answers every unknown path so), after which the fallback tag schema applies. Only the
    /// first page is read; registries page past 4 MiB of descriptors, which no image has.
    pub async fn referrers(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<Option<Vec<serde_json::Value>>, RegistryError> {
        let endpoint = self.endpoint(repo.registry());
        let url = endpoint.referrers_url(repo.repository(), &digest.to_string());
        let req = ApiRequest {
            method: Method::GET,
            endpoint: &endpoint,
            repository: repo.repository(),
            url: &url,
            accept: Some(media::OCI_INDEX),
            timeout: Some(super::API_TIMEOUT),
        };
        let resp = self.inner.transport.send(&req).await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            s => {
                return Err(RegistryError::UnexpectedStatus {
                    url,
                    status: s.as_u16(),
                });
            }
        }
        let bytes = read_capped(resp, MANIFEST_SIZE_CAP, &url)
            .await?
            .ok_or_else(|| RegistryError::InvalidResponse {
                url: url.clone(),
                reason: format!("a referrers list over {MANIFEST_SIZE_CAP} bytes"),
            })?;
        let index: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::InvalidResponse {
                url: url.clone(),
                reason: format!("not an image index: {e}"),
            })?;
        let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
        Ok(Some(manifests))
    }
}
