//! `search`: Docker Hub's search API for `docker.io`, and for every other registry its
//! `/v2/_catalog` (the only listing the distribution API has) filtered by the term.

use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::error::RegistryError;
use super::raw::{RawRequest, read_capped, send_retrying};
use super::tags::PagedList;
use super::{API_TIMEOUT, RegistryClient};

/// Docker Hub's search endpoint; the v2 registry API has no search.
const HUB_SEARCH: &str = "https://index.docker.io/v1/search";
/// Docker Hub answers at most this many results per query.
pub const SEARCH_LIMIT_MAX: usize = 100;
/// A search answer is a small JSON document.
const SEARCH_RESPONSE_CAP: u64 = 8 << 20;

/// One repository found, with Docker Hub's fields (zero and false elsewhere).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SearchHit {
    /// The repository as `pull` takes it (`nginx`, `bitnami/nginx`, `127.0.0.1:5000/app`).
    pub name: String,
    /// Docker Hub's one-line description.
    pub description: String,
    /// Docker Hub stars.
    pub stars: u64,
    /// A Docker Official Image.
    pub official: bool,
    /// Docker Hub's (retired) automated-build flag.
    pub automated: bool,
}

impl RegistryClient {
    /// Up to `limit` repositories of `registry` whose name contains `term` (Docker Hub: its
    /// own relevance ranking).
    pub async fn search(
        &self,
        registry: &str,
        term: &str,
        limit: usize,
    ) -> Result<Vec<SearchHit>, RegistryError> {
        if registry == "docker.io" {
            return self.search_hub(term, limit).await;
        }
        let endpoint = self.endpoint(registry);
        let first = format!("{}/v2/_catalog?n=1000", endpoint.origin);
        let not_found = || RegistryError::NoCatalog {
            registry: registry.to_string(),
        };
        let repositories = self
            .list_pages(
                &endpoint,
                &PagedList {
                    repository: "",
                    scope: "registry:catalog:*",
                    first: &first,
                    field: "repositories",
                },
                &not_found,
            )
            .await?;
        let term = term.to_ascii_lowercase();
        Ok(repositories
            .into_iter()
            .filter(|r| r.contains(&term))
            .take(limit)
            .map(|r| SearchHit {
                name: format!("{registry}/{r}"),
                description: String::new(),
                stars: 0,
                official: false,
                automated: false,
            })
            .collect())
    }

    async fn search_hub(&self, term: &str, limit: usize) -> Result<Vec<SearchHit>, RegistryError> {
        let mut url = url::Url::parse(HUB_SEARCH).expect("constant URL");
        url.query_pairs_mut()
            .append_pair("q", term)
            .append_pair("n", &limit.clamp(1, SEARCH_LIMIT_MAX).to_string());
        let url = url.to_string();
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let raw = RawRequest {
            method: Method::GET,
            url: &url,
            headers,
            body: None,
            timeout: Some(API_TIMEOUT),
        };
        let http = self.endpoint("docker.io").http;
        let resp = send_retrying(&http, "docker.io", &raw).await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                return Err(super::retry::too_many_requests("docker.io", resp.headers()));
            }
            s => {
                return Err(RegistryError::UnexpectedStatus {
                    url,
                    status: s.as_u16(),
                });
            }
        }
        let body = read_capped(resp, SEARCH_RESPONSE_CAP, &url)
            .await?
            .ok_or_else(|| RegistryError::InvalidResponse {
                url: url.clone(),
                reason: "search answer too large".into(),
            })?;
        let mut hits = parse_hub(&body).map_err(|reason| RegistryError::InvalidResponse {
            url: url.clone(),
            reason,
        })?;
        hits.truncate(limit);
        Ok(hits)
    }
}

/// Docker Hub's v1 search answer: `{"results": [{"name", "description", "star_count",
/// "is_official", "is_automated"}, …]}`.
fn parse_hub(body: &[u8]) -> Result<Vec<SearchHit>, String> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        results: Vec<Hit>,
    }
    #[derive(Deserialize)]
    struct Hit {
        name: String,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        star_count: u64,
        #[serde(default)]
        is_official: bool,
        #[serde(default)]
        is_automated: bool,
    }
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| format!("search answer is not the expected JSON: {e}"))?;
    Ok(answer
        .results
        .into_iter()
        .map(|h| SearchHit {
            name: h.name,
            description: h.description.unwrap_or_default(),
            stars: h.star_count,
            official: h.is_official,
            automated: h.is_automated,
        })
        .collect())
}

/// Split a `search` argument like docker does: `[REGISTRY/]TERM`, where the first component
/// names a registry only if it has a `.` or `:` or is `localhost`.
pub fn split_search_term(arg: &str) -> (String, String) {
    if let Some((first, rest)) = arg.split_once('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        let registry = if first == "index.docker.io" {
            "docker.io"
        } else {
            first
        };
        return (registry.to_string(), rest.to_string());
    }
    ("docker.io".to_string(), arg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_answer() {
        let body = br#"{"num_pages":1,"num_results":2,"page_size":25,"query":"nginx","results":[
            {"name":"nginx","description":"Official build of Nginx.","star_count":20000,"is_official":true,"is_automated":false},
            {"name":"bitnami/nginx","description":null,"star_count":190,"is_official":false,"is_automated":true}]}"#;
        let hits = parse_hub(body).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].name, "nginx");
        assert!(hits[0].official);
        assert_eq!(hits[0].stars, 20000);
        assert_eq!(hits[1].description, "");
        assert!(hits[1].automated);
        assert!(parse_hub(b"<html>").is_err());
    }

    #[test]
    fn terms() {
        let cases = [
            ("nginx", ("docker.io", "nginx")),
            ("bitnami/nginx", ("docker.io", "bitnami/nginx")),
            ("127.0.0.1:5000/app", ("127.0.0.1:5000", "app")),
            ("localhost/app", ("localhost", "app")),
            (
                "registry.example.com/team/app",
                ("registry.example.com", "team/app"),
            ),
            ("index.docker.io/nginx", ("docker.io", "nginx")),
        ];
        for (arg, (reg, term)) in cases {
            assert_eq!(split_search_term(arg), (reg.to_string(), term.to_string()));
        }
    }
}
