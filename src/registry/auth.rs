//! Registry authentication: which challenge each registry sent, the user's credentials for it,
//! and bearer tokens fetched from the challenge's realm, cached per (registry, scope) until
//! they expire. Secrets stay in headers marked sensitive and never reach logs or errors.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};

use super::challenge::Challenge;
use super::credentials::{self, Credential};
use super::endpoint::Endpoint;
use super::error::RegistryError;
use super::raw::{RawRequest, read_capped, send_retrying};

/// Tokens without `expires_in` (and ones claiming less) live this long, per the token spec.
const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// A cached token this close to expiry is refreshed instead of used.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// Token responses are small JSON documents.
const TOKEN_RESPONSE_CAP: u64 = 1 << 20;
/// Token requests should be quick; a stuck auth server must not hang a pull.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(60);
/// Sent as `client_id` in OAuth2 refresh-token exchanges.
const CLIENT_ID: &str = "imagectl";

/// A bearer token and when to stop using it.
struct Token {
    value: String,
    expires: Instant,
}

/// One lock per (registry, scope) so concurrent requests for the same repository wait for
/// one token fetch instead of each fetching their own.
type TokenSlot = Arc<tokio::sync::Mutex<Option<Token>>>;
/// Credentials are looked up once per registry (it may run a helper process).
type CredentialSlot = Arc<tokio::sync::OnceCell<Option<Credential>>>;

/// Authentication state shared by every request of a client.
pub(crate) struct Auth {
    config_dir: Option<PathBuf>,
    challenges: Mutex<HashMap<String, Challenge>>,
    tokens: Mutex<HashMap<(String, String), TokenSlot>>,
    credentials: Mutex<HashMap<String, CredentialSlot>>,
    /// Credentials given explicitly (a policy's `registries:`), before config.json; `Err`
    /// says why the configured password could not be read.
    explicit: HashMap<String, Result<Credential, String>>,
}

impl Auth {
    /// Auth state using `config_dir/config.json` for credentials not given explicitly.
    /// Token requests go through the client of the endpoint being authenticated for.
    pub(crate) fn new(
        config_dir: Option<PathBuf>,
        explicit: HashMap<String, Result<Credential, String>>,
    ) -> Self {
        Self {
            config_dir,
            explicit,
            challenges: Mutex::default(),
            tokens: Mutex::default(),
            credentials: Mutex::default(),
        }
    }

    /// The user's credentials for `registry`, looked up once and remembered.
    pub(crate) async fn credential(
        &self,
        registry: &str,
    ) -> Result<Option<Credential>, RegistryError> {
        match self.explicit.get(registry) {
            Some(Ok(c)) => return Ok(Some(c.clone())),
            Some(Err(reason)) => {
                return Err(RegistryError::ConfiguredCredentials {
                    registry: registry.to_string(),
                    reason: reason.clone(),
                });
            }
            None => {}
        }
        let slot = lock(&self.credentials)
            .entry(registry.to_string())
            .or_default()
            .clone();
        let cred = slot
            .get_or_try_init(|| async {
                let dir = self.config_dir.clone();
                let reg = registry.to_string();
                tokio::task::spawn_blocking(move || credentials::lookup(dir.as_deref(), &reg))
                    .await
                    .map_err(|e| RegistryError::Credentials {
                        registry: registry.to_string(),
                        reason: format!("credential lookup did not finish: {e}"),
                    })?
            })
            .await?;
        Ok(cred.clone())
    }

    /// Remember how `registry` wants to be authenticated, so later requests (other
    /// repositories too) authenticate up front instead of collecting a 401 first.
    pub(crate) fn learn(&self, registry: &str, challenge: Challenge) {
        lock(&self.challenges).insert(registry.to_string(), challenge);
    }

    /// Drop the cached token for (registry, scope) if it is the one the registry just refused
    /// (`rejected`); a newer token fetched meanwhile by a concurrent request is kept.
    pub(crate) async fn forget_token(&self, registry: &str, scope: &str, rejected: &HeaderValue) {
        let slot = lock(&self.tokens)
            .get(&(registry.to_string(), scope.to_string()))
            .cloned();
        if let Some(slot) = slot {
            let mut cached = slot.lock().await;
            if cached
                .as_ref()
                .is_some_and(|t| bearer_header(&t.value) == rejected)
            {
                *cached = None;
            }
        }
    }

    /// Whether answering the registry's challenge could send anything: bearer tokens can be
    /// fetched anonymously, Basic needs a username and password.
    pub(crate) async fn can_authenticate(&self, registry: &str) -> Result<bool, RegistryError> {
        let challenge = lock(&self.challenges).get(registry).cloned();
        Ok(match challenge {
            None => false,
            Some(Challenge::Bearer { .. }) => true,
            Some(Challenge::Basic) => matches!(
                self.credential(registry).await?,
                Some(Credential::Basic { .. })
            ),
        })
    }

    /// The `Authorization` value for a request to `endpoint` needing `scope`, or `None` to go
    /// anonymously (nothing learned yet, or nothing to send).
    pub(crate) async fn authorization(
        &self,
        endpoint: &Endpoint,
        scope: &str,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let registry = endpoint.registry.as_str();
        let challenge = lock(&self.challenges).get(registry).cloned();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => match self.credential(registry).await? {
                Some(Credential::Basic { username, password }) => {
                    Ok(Some(basic_header(&username, &password)))
                }
                _ => Ok(None),
            },
            Some(Challenge::Bearer { realm, service, .. }) => {
                let slot = lock(&self.tokens)
                    .entry((registry.to_string(), scope.to_string()))
                    .or_default()
                    .clone();
                let mut cached = slot.lock().await;
                if let Some(t) = cached.as_ref()
                    && t.expires > Instant::now() + EXPIRY_MARGIN
                {
                    return Ok(Some(bearer_header(&t.value)));
                }
                let token = self
                    .fetch_token(&endpoint.http, registry, &realm, service.as_deref(), scope)
                    .await?;
                let header = bearer_header(&token.value);
                *cached = Some(token);
                Ok(Some(header))
            }
        }
    }

    /// Get a token from the realm: an OAuth2 refresh-token POST for identity tokens, else
    /// the classic GET with Basic credentials (or none, for anonymous pulls).
    async fn fetch_token(
        &self,
        http: &reqwest::Client,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<Token, RegistryError> {
        let invalid = |url: &str, reason: String| RegistryError::InvalidResponse {
            url: url.to_string(),
            reason,
        };
        let mut url = url::Url::parse(realm)
            .map_err(|e| invalid(realm, format!("token realm is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(realm, "token realm is not an http(s) URL".into()));
        }
        let cred = self.credential(registry).await?;
        let mut headers = HeaderMap::new();
        let (method, body) = match &cred {
            Some(Credential::IdentityToken(refresh)) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("refresh_token", refresh)
                    .append_pair("client_id", CLIENT_ID)
                    .append_pair("scope", scope);
                if let Some(s) = service {
                    form.append_pair("service", s);
                }
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                (Method::POST, Some(bytes::Bytes::from(form.finish())))
            }
            other => {
                token_query(&mut url, service, scope);
                if let Some(Credential::Basic { username, password }) = other {
                    headers.insert(AUTHORIZATION, basic_header(username, password));
                }
                (Method::GET, None)
            }
        };
        let url = url.to_string();
        let raw = RawRequest {
            method,
            url: &url,
            headers,
            body,
            timeout: Some(TOKEN_TIMEOUT),
        };
        let resp = send_retrying(http, registry, &raw).await?;
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(RegistryError::Unauthorized {
                    registry: registry.to_string(),
                    with_credentials: cred.is_some(),
                });
            }
            StatusCode::TOO_MANY_REQUESTS => {
                return Err(super::retry::too_many_requests(registry, resp.headers()));
            }
            s if s.is_server_error() => {
                return Err(RegistryError::Server {
                    url,
                    status: s.as_u16(),
                });
            }
            s => {
                return Err(RegistryError::UnexpectedStatus {
                    url,
                    status: s.as_u16(),
                });
            }
        }
        let body = read_capped(resp, TOKEN_RESPONSE_CAP, &url)
            .await?
            .ok_or_else(|| invalid(&url, "token response too large".into()))?;
        parse_token(&body).map_err(|reason| invalid(&url, reason))
    }
}

/// Add `service` and the scopes to a token request URL. Several scopes (a mount reads one
/// repository and pushes to another: `"repository:a:pull,push repository:b:pull"`) are
/// several `scope` parameters, as the token spec says.
fn token_query(url: &mut url::Url, service: Option<&str>, scope: &str) {
    let mut q = url.query_pairs_mut();
    if let Some(s) = service {
        q.append_pair("service", s);
    }
    for one in scope.split_ascii_whitespace() {
        q.append_pair("scope", one);
    }
}

/// Parse a token response: `token` or `access_token`, and `expires_in` seconds.
fn parse_token(body: &[u8]) -> Result<Token, String> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    let r: TokenResponse = serde_json::from_slice(body)
        .map_err(|e| format!("token response is not the expected JSON: {e}"))?;
    let value = r
        .token
        .filter(|t| !t.is_empty())
        .or(r.access_token.filter(|t| !t.is_empty()))
        .ok_or("token response has neither token nor access_token")?;
    let lifetime = Duration::from_secs(r.expires_in.unwrap_or(0)).max(MIN_TOKEN_LIFETIME);
    Ok(Token {
        value,
        expires: Instant::now() + lifetime,
    })
}

pub(crate) fn basic_header(username: &str, password: &str) -> HeaderValue {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    sensitive(&format!("Basic {encoded}"))
}

fn bearer_header(token: &str) -> HeaderValue {
    sensitive(&format!("Bearer {token}"))
}

fn sensitive(value: &str) -> HeaderValue {
    // Tokens and base64 are visible ASCII; anything else would be a broken credential, sent
    // as an empty header the registry rejects rather than a panic here.
    let mut v = HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}

/// Lock a std mutex, ignoring poisoning: the maps stay consistent (single inserts/reads).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses() {
        let t = parse_token(br#"{"token":"abc","expires_in":300}"#).unwrap();
        assert_eq!(t.value, "abc");
        assert!(t.expires > Instant::now() + Duration::from_secs(290));
        let t = parse_token(br#"{"access_token":"xyz"}"#).unwrap();
        assert_eq!(t.value, "xyz");
        assert!(t.expires > Instant::now() + Duration::from_secs(50));
        let t = parse_token(br#"{"token":"","access_token":"xyz","expires_in":5}"#).unwrap();
        assert_eq!(t.value, "xyz");
        assert!(t.expires > Instant::now() + Duration::from_secs(50));
        assert!(parse_token(br#"{"expires_in":5}"#).is_err());
        assert!(parse_token(b"<html>").is_err());
    }

    #[test]
    fn several_scopes_are_several_parameters() {
        let mut url = url::Url::parse("https://auth.example/token?x=1").unwrap();
        token_query(
            &mut url,
            Some("registry.example"),
            "repository:team/app:pull,push repository:base/img:pull",
        );
        assert_eq!(
            url.as_str(),
            "https://auth.example/token?x=1&service=registry.example\
             &scope=repository%3Ateam%2Fapp%3Apull%2Cpush&scope=repository%3Abase%2Fimg%3Apull"
        );
    }

    #[test]
    fn headers_are_sensitive() {
        let h = basic_header("user", "pass");
        assert!(h.is_sensitive());
        assert_eq!(h.to_str().unwrap(), "Basic dXNlcjpwYXNz");
        assert!(format!("{h:?}").contains("Sensitive"));
    }
}
