//! Listing a repository's tags (`/v2/<name>/tags/list`) and other paginated lists, following
//! RFC 8288 `Link` headers page by page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reqwest::header::LINK;
use reqwest::{Method, StatusCode};

use super::RegistryClient;
use super::endpoint::Endpoint;
use super::error::RegistryError;
use super::raw::read_capped;
use super::transport::ApiRequest;
use crate::oci::Reference;

/// A page of tags is JSON; even huge repositories stay far below this per page.
const PAGE_CAP: u64 = 64 << 20;
/// Stop following `next` links after this many pages (a registry looping forever).
const MAX_PAGES: usize = 10_000;

impl RegistryClient {
    /// All tags, following `Link: <...>; rel="next"` pagination, in the registry's order
    /// (distribution 2.8 answers an unpaginated list unsorted). Always from the registry
    /// itself, never a mirror: a mirror's list may be partial (a proxy cache lists what it
    /// has cached), and a policy's retention would then remove tags that still exist.
    pub async fn list_tags(&self, repo: &Reference) -> Result<Vec<String>, RegistryError> {
        let Some(lists) = &self.tag_lists else {
            return self.list_tags_now(repo).await;
        };
        let cell = lists
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(repo.name())
            .or_default()
            .clone();
        // Concurrent askers of one repository wait for one listing; a failure is not kept.
        cell.get_or_try_init(|| self.list_tags_now(repo))
            .await
            .cloned()
    }

    async fn list_tags_now(&self, repo: &Reference) -> Result<Vec<String>, RegistryError> {
        let endpoint = self.endpoint(repo.registry());
        let first = endpoint.tags_url(repo.repository());
        let not_found = || RegistryError::RepositoryUnknown {
            repository: repo.name(),
        };
        let scope = format!("repository:{}:pull", repo.repository());
        let list = PagedList {
            repository: repo.repository(),
            scope: &scope,
            first: &first,
            field: "tags",
        };
        self.list_pages(&endpoint, &list, &not_found).await
    }

    /// The string array `field` of every page of a paginated list starting at `first`
    /// (tags, catalog), asking tokens for `scope`.
    pub(crate) async fn list_pages(
        &self,
        endpoint: &Endpoint,
        list: &PagedList<'_>,
        not_found: &dyn Fn() -> RegistryError,
    ) -> Result<Vec<String>, RegistryError> {
        let pages = Pages {
            accept: "application/json",
            page_cap: PAGE_CAP,
            max_pages: MAX_PAGES,
        };
        let values = self
            .list_values(endpoint, list, &pages)
            .await?
            .ok_or_else(not_found)?;
        values
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                _ => Err(RegistryError::InvalidResponse {
                    url: list.first.to_string(),
                    reason: format!("{} holds a non-string", list.field),
                }),
            })
            .collect()
    }

    /// The JSON array `field` of every page of a paginated list starting at `first`,
    /// following `Link: <...>; rel="next"` up to `pages.max_pages` pages. `None` when the
    /// first page is a 404 (an unknown repository, or a registry without the API); a 404
    /// further on is an error. Pages must stay on the registry's origin: our credentials
    /// are for it.
    pub(crate) async fn list_values(
        &self,
        endpoint: &Endpoint,
        list: &PagedList<'_>,
        pages: &Pages,
    ) -> Result<Option<Vec<serde_json::Value>>, RegistryError> {
        let PagedList {
            repository,
            scope,
            first,
            field,
        } = *list;
        let first = url::Url::parse(first).map_err(|e| RegistryError::InvalidResponse {
            url: first.to_string(),
            reason: format!("not a URL: {e}"),
        })?;
        let mut url = first.clone();
        let mut items = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for page in 0..pages.max_pages {
            let url_str = url.to_string();
            let req = ApiRequest {
                method: Method::GET,
                endpoint,
                repository,
                url: &url_str,
                accept: Some(pages.accept),
                timeout: Some(super::API_TIMEOUT),
            };
            let resp = self.inner.transport.send_scoped(&req, scope).await?;
            match resp.status() {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND if page == 0 => return Ok(None),
                s => {
                    return Err(RegistryError::UnexpectedStatus {
                        url: url_str,
                        status: s.as_u16(),
                    });
                }
            }
            let next = resp
                .headers()
                .get_all(LINK)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(next_link)
                .map(str::to_string);
            let invalid = |reason: String| RegistryError::InvalidResponse {
                url: url_str.clone(),
                reason,
            };
            let body = read_capped(resp, pages.page_cap, &url_str)
                .await?
                .ok_or_else(|| {
                    invalid(format!("a page of {field} over {} bytes", pages.page_cap))
                })?;
            let page: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| invalid(format!("{field} page is not JSON: {e}")))?;
            match page.get(field) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::Array(values)) => items.extend(values.iter().cloned()),
                Some(_) => return Err(invalid(format!("{field} is not an array"))),
            }
            let Some(next) = next else {
                return Ok(Some(items));
            };
            let next = url
                .join(&next)
                .map_err(|e| invalid(format!("bad Link header {next:?}: {e}")))?;
            if next.origin() != first.origin() {
                return Err(invalid(format!(
                    "Link header points to another host ({})",
                    next.origin().ascii_serialization()
                )));
            }
            if !seen.insert(next.to_string()) {
                return Err(invalid("Link header pagination loops".into()));
            }
            url = next;
        }
        Err(RegistryError::InvalidResponse {
            url: first.to_string(),
            reason: format!("more than {} pages of {field}", pages.max_pages),
        })
    }
}

/// How to read a paginated list's pages.
pub(crate) struct Pages {
    /// The `Accept` header.
    pub(crate) accept: &'static str,
    /// The largest page read.
    pub(crate) page_cap: u64,
    /// Pages followed before the list is refused.
    pub(crate) max_pages: usize,
}

/// Tag lists a client read, by repository, each filled once.
#[derive(Clone, Default)]
pub(crate) struct TagLists(Arc<Mutex<HashMap<String, TagList>>>);

/// One repository's tag list, filled by the first listing.
type TagList = Arc<tokio::sync::OnceCell<Vec<String>>>;

/// A paginated list to read: where it starts, which JSON array to collect, and for whom.
#[derive(Clone, Copy)]
pub(crate) struct PagedList<'a> {
    /// The repository, for error messages (empty for the catalog).
    pub(crate) repository: &'a str,
    /// The token scope the list needs.
    pub(crate) scope: &'a str,
    /// The first page's URL.
    pub(crate) first: &'a str,
    /// The JSON array each page holds (`tags`, `repositories`, `manifests`).
    pub(crate) field: &'a str,
}

/// The target of the `rel="next"` link in one `Link` header value, if there is one.
/// Values look like `</v2/x/tags/list?last=a&n=2>; rel="next", <…>; rel="prev"`.
fn next_link(value: &str) -> Option<&str> {
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>')?;
        let target = &after[..end];
        let params_all = &after[end + 1..];
        let params = &params_all[..params_all.find('<').unwrap_or(params_all.len())];
        let is_next = params.split(';').any(|p| {
            let Some((k, v)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target);
        }
        rest = params_all;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=b&n=2>; rel="next""#),
            Some("/v2/a/tags/list?last=b&n=2")
        );
        assert_eq!(next_link("</x>;rel=next"), Some("/x"));
        assert_eq!(
            next_link(r#"</p>; rel="prev", <https://r.io/v2/a/tags/list?last=z>; rel="next""#),
            Some("https://r.io/v2/a/tags/list?last=z")
        );
        assert_eq!(next_link(r#"</n>; title="x"; rel="last next""#), Some("/n"));
        assert_eq!(next_link(r#"</p>; rel="prev""#), None);
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("<broken; rel=next"), None);
    }
}
