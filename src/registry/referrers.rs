//! The OCI 1.1 referrers API (`GET /v2/<name>/referrers/<digest>`): the signatures,
//! attestations and SBOMs whose manifest names a given manifest as its `subject`.

use super::RegistryClient;
use super::error::RegistryError;
use super::manifest::MANIFEST_SIZE_CAP;
use super::tags::{PagedList, Pages};
use crate::oci::{Digest, Reference, media};

/// Pages of one referrers list followed before it is refused. The spec pages a list only
/// when it does not fit one index (4 MiB at most registries): this many pages hold far
/// more signatures than any image has, and a registry linking pages forever stops here.
pub const MAX_REFERRER_PAGES: usize = 64;

impl RegistryClient {
    /// The descriptors (as the registry wrote them: `artifactType` and `annotations` kept)
    /// of the manifests referring to `digest` in `repo`'s repository, from the registry
    /// itself, following `Link: <…>; rel="next"` across pages (at most
    /// [`MAX_REFERRER_PAGES`]). `None` when the registry has no referrers API: a 404
    /// (distribution 2.8 answers every unknown path so), after which the fallback tag schema
    /// applies.
    pub async fn referrers(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<Option<Vec<serde_json::Value>>, RegistryError> {
        let endpoint = self.endpoint(repo.registry());
        let url = endpoint.referrers_url(repo.repository(), &digest.to_string());
        let scope = format!("repository:{}:pull", endpoint.path(repo.repository()));
        let list = PagedList {
            repository: repo.repository(),
            scope: &scope,
            first: &url,
            field: "manifests",
        };
        let pages = Pages {
            accept: media::OCI_INDEX,
            page_cap: MANIFEST_SIZE_CAP,
            max_pages: MAX_REFERRER_PAGES,
        };
        self.list_values(&endpoint, &list, &pages).await
    }
}
