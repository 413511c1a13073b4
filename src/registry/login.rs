//! Checking a user name and password against a registry before `login` stores them: the
//! registry's own `/v2/` endpoint, answered with Basic auth or through its token realm.

use reqwest::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use super::auth::basic_header;
use super::challenge::Challenge;
use super::error::RegistryError;
use super::raw::{RawRequest, send_retrying};
use super::{BasicCredentials, RegistryClient};

/// How long a login check may take; it is two or three small requests.
const LOGIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What the registry said about the credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginCheck {
    /// The registry accepted them (directly or by issuing a token).
    Accepted,
    /// The registry does not ask for authentication at all: storing them is harmless but
    /// useless, which the user should hear.
    NotRequired,
}

impl RegistryClient {
    /// Check `creds` against `registry` the way `docker login` does: `GET /v2/`, and on a
    /// 401 answer its challenge once with the credentials (Basic directly, Bearer by asking
    /// the token realm for a token without scope). Wrong credentials are
    /// [`RegistryError::LoginRejected`].
    pub async fn check_login(
        &self,
        registry: &str,
        creds: &BasicCredentials,
    ) -> Result<LoginCheck, RegistryError> {
        let endpoint = self.endpoint(registry);
        let url = format!("{}/v2/", endpoint.origin);
        let http = &endpoint.http;
        let get = |url: String, headers: HeaderMap| async move {
            let raw = RawRequest {
                method: Method::GET,
                url: &url,
                headers,
                body: None,
                timeout: Some(LOGIN_TIMEOUT),
            };
            send_retrying(http, registry, &raw).await
        };
        let rejected = || RegistryError::LoginRejected {
            registry: registry.to_string(),
        };
        let anonymous = get(url.clone(), HeaderMap::new()).await?;
        match anonymous.status() {
            s if s.is_success() => return Ok(LoginCheck::NotRequired),
            StatusCode::UNAUTHORIZED => {}
            s => return Err(status_error(registry, &url, s)),
        }
        let values = anonymous
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let challenge =
            Challenge::from_headers(values).map_err(|reason| RegistryError::BadChallenge {
                registry: registry.to_string(),
                url: url.clone(),
                reason,
            })?;
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            basic_header(&creds.username, &creds.password),
        );
        let (check_url, check) = match challenge {
            Challenge::Basic => (url.clone(), get(url.clone(), headers).await?),
            Challenge::Bearer { realm, service, .. } => {
                let mut realm_url =
                    url::Url::parse(&realm).map_err(|e| RegistryError::InvalidResponse {
                        url: realm.clone(),
                        reason: format!("token realm is not a URL: {e}"),
                    })?;
                {
                    let mut q = realm_url.query_pairs_mut();
                    if let Some(s) = &service {
                        q.append_pair("service", s);
                    }
                    q.append_pair("account", &creds.username);
                }
                let realm_url = realm_url.to_string();
                (realm_url.clone(), get(realm_url, headers).await?)
            }
        };
        match check.status() {
            s if s.is_success() => Ok(LoginCheck::Accepted),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(rejected()),
            s => Err(status_error(registry, &check_url, s)),
        }
    }
}

fn status_error(registry: &str, url: &str, status: StatusCode) -> RegistryError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        RegistryError::TooManyRequests {
            registry: registry.to_string(),
            retry_after: None,
            rate_limit: None,
        }
    } else if status.is_server_error() {
        RegistryError::Server {
            url: url.to_string(),
            status: status.as_u16(),
        }
    } else {
        RegistryError::UnexpectedStatus {
            url: url.to_string(),
            status: status.as_u16(),
        }
    }
}
