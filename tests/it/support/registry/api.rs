//! The distribution API calls tests make to a test registry directly (bypassing imagectl):
//! manifests, blobs, tags.

use super::super::http;
use super::Registry;

/// Every manifest media type a registry may serve.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

impl Registry {
    /// HEADs `/v2/REPO/manifests/REFERENCE` accepting every manifest type and returns the
    /// `Docker-Content-Digest` the registry serves, or None on 404.
    pub fn manifest_digest(&self, repo: &str, reference: &str) -> Option<String> {
        let resp = self
            .call(
                "HEAD",
                &format!("/v2/{repo}/manifests/{reference}"),
                &[("Accept", ACCEPT_MANIFESTS)],
                &[],
            )
            .expect("HEAD manifest");
        match resp.status {
            200 => Some(
                resp.header("docker-content-digest")
                    .expect("Docker-Content-Digest header")
                    .to_string(),
            ),
            404 => None,
            s => panic!("HEAD /v2/{repo}/manifests/{reference}: status {s}"),
        }
    }

    /// GETs a manifest: (content type, bytes).
    pub fn get_manifest(&self, repo: &str, reference: &str) -> (String, Vec<u8>) {
        let resp = self
            .call(
                "GET",
                &format!("/v2/{repo}/manifests/{reference}"),
                &[("Accept", ACCEPT_MANIFESTS)],
                &[],
            )
            .expect("GET manifest");
        assert_eq!(
            resp.status,
            200,
            "GET manifest {repo}:{reference}: {}",
            resp.text()
        );
        (
            resp.header("content-type").unwrap_or_default().to_string(),
            resp.body,
        )
    }

    /// Uploads a blob monolithically (POST then PUT with `?digest=`); returns its digest.
    pub fn put_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = crate::support::fixtures::sha256_digest(data);
        let resp = self
            .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[])
            .expect("POST blob upload");
        assert_eq!(resp.status, 202, "start upload: {}", resp.text());
        let location = resp
            .header("location")
            .expect("upload Location")
            .to_string();
        let sep = if location.contains('?') { '&' } else { '?' };
        let target = format!("{location}{sep}digest={digest}");
        let resp = self
            .call(
                "PUT",
                &target,
                &[("Content-Type", "application/octet-stream")],
                data,
            )
            .expect("PUT blob");
        assert_eq!(resp.status, 201, "finish upload: {}", resp.text());
        digest
    }

    /// PUTs a manifest under `reference` (a tag or a digest); returns the digest the
    /// registry reports.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let resp = self
            .call(
                "PUT",
                &format!("/v2/{repo}/manifests/{reference}"),
                &[("Content-Type", media_type)],
                bytes,
            )
            .expect("PUT manifest");
        assert_eq!(
            resp.status,
            201,
            "PUT manifest {repo}:{reference}: {}",
            resp.text()
        );
        resp.header("docker-content-digest")
            .expect("Docker-Content-Digest")
            .to_string()
    }

    /// DELETEs a manifest by digest (storage.delete is enabled).
    pub fn delete_manifest(&self, repo: &str, digest: &str) {
        let resp = self
            .call(
                "DELETE",
                &format!("/v2/{repo}/manifests/{digest}"),
                &[],
                &[],
            )
            .expect("DELETE manifest");
        assert_eq!(resp.status, 202, "DELETE manifest: {}", resp.text());
    }

    /// The tags of `repo` (`/v2/REPO/tags/list`), empty on 404.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let resp = self
            .call("GET", &format!("/v2/{repo}/tags/list"), &[], &[])
            .expect("GET tags");
        if resp.status == 404 {
            return Vec::new();
        }
        let v: serde_json::Value = serde_json::from_slice(&resp.body).expect("tags json");
        v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One request to this registry, with its credentials if it has any.
    pub fn call(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<http::Response> {
        http::request(
            &self.host(),
            method,
            target,
            headers,
            self.auth.as_ref(),
            body,
        )
    }
}
