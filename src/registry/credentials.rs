//! Credentials from Docker's `config.json` (`auths`, `credsStore`, `credHelpers`), looked up
//! under every key spelling docker itself writes for a registry.

use std::fmt;
use std::path::{Path, PathBuf};

use docker_credential::{CredentialRetrievalError, DockerCredential};

use super::error::RegistryError;

/// What the user logged in with. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// A username and password (or a personal access token used as one).
    Basic {
        /// The account name.
        username: String,
        /// The secret.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token realm.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// The directory holding `config.json`: the configured one, else `$DOCKER_CONFIG`, else
/// `~/.docker`, as the docker CLI resolves it.
pub(crate) fn config_dir(configured: Option<&Path>) -> Option<PathBuf> {
    configured
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("DOCKER_CONFIG").map(PathBuf::from))
        .or_else(|| dirs::home_dir().map(|h| h.join(".docker")))
}

/// The `config.json` keys docker may have stored a registry's credentials under, most
/// specific first.
pub(crate) fn keys(registry: &str) -> Vec<String> {
    if matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        vec![
            "https://index.docker.io/v1/".to_string(),
            "docker.io".to_string(),
            "index.docker.io".to_string(),
            "registry-1.docker.io".to_string(),
        ]
    } else {
        vec![
            registry.to_string(),
            format!("https://{registry}"),
            format!("http://{registry}"),
        ]
    }
}

/// Look up `registry` in `<dir>/config.json`. A missing or unreadable file, or no entry for
/// the registry, means anonymous access (`None`), as for docker; a malformed file or a
/// failing credential helper is an error, because silently pulling anonymously would hide it.
/// Blocking: it may run a credential helper process.
pub(crate) fn lookup(
    dir: Option<&Path>,
    registry: &str,
) -> Result<Option<Credential>, RegistryError> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    let path = dir.join("config.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %e, "cannot read Docker config; continuing without credentials");
            }
            return Ok(None);
        }
    };
    let fail = |reason: String| RegistryError::Credentials {
        registry: registry.to_string(),
        reason,
    };
    if serde_json::from_slice::<serde_json::Value>(&bytes).is_err() {
        return Err(fail(format!("{} is not valid JSON", path.display())));
    }
    for key in keys(registry) {
        match docker_credential::get_credential_from_reader(&bytes[..], &key) {
            Ok(DockerCredential::UsernamePassword(username, password)) => {
                tracing::debug!(registry, key, "using credentials from Docker config");
                return Ok(Some(Credential::Basic { username, password }));
            }
            Ok(DockerCredential::IdentityToken(token)) => {
                tracing::debug!(registry, key, "using identity token from Docker config");
                return Ok(Some(Credential::IdentityToken(token)));
            }
            Err(CredentialRetrievalError::NoCredentialConfigured) => continue,
            Err(CredentialRetrievalError::HelperFailure {
                helper,
                stdout,
                stderr,
            }) => {
                let said = if stderr.trim().is_empty() {
                    stdout
                } else {
                    stderr
                };
                if said.to_ascii_lowercase().contains("credentials not found") {
                    continue;
                }
                let first = said.lines().next().unwrap_or("").trim();
                let first: String = first.chars().take(200).collect();
                return Err(fail(format!("credential helper {helper} failed: {first}")));
            }
            Err(CredentialRetrievalError::HelperCommunicationError) => {
                return Err(fail(format!(
                    "cannot run the credential helper that {} names (credsStore/credHelpers)",
                    path.display()
                )));
            }
            Err(CredentialRetrievalError::CredentialDecodingError) => {
                return Err(fail(format!(
                    "the auth field for {key:?} in {} is not base64 of user:password",
                    path.display()
                )));
            }
            Err(e) => return Err(fail(format!("{} ({e})", path.display()))),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn dir_with(config: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), config).unwrap();
        d
    }

    fn basic(u: &str, p: &str) -> Option<Credential> {
        Some(Credential::Basic {
            username: u.into(),
            password: p.into(),
        })
    }

    #[test]
    fn auth_base64_and_username_password() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("hub:s3cr:et");
        let d = dir_with(&format!(
            r#"{{"auths":{{
                "https://index.docker.io/v1/":{{"auth":"{b64}"}},
                "127.0.0.1:5000":{{"username":"u","password":"p"}},
                "https://harbor.internal:30002":{{"auth":"{}"}},
                "ghcr.io":{{"identitytoken":"tok"}}
            }}}}"#,
            base64::engine::general_purpose::STANDARD.encode("h:pw")
        ));
        let dir = Some(d.path());
        assert_eq!(lookup(dir, "docker.io").unwrap(), basic("hub", "s3cr:et"));
        assert_eq!(lookup(dir, "127.0.0.1:5000").unwrap(), basic("u", "p"));
        assert_eq!(
            lookup(dir, "harbor.internal:30002").unwrap(),
            basic("h", "pw")
        );
        assert_eq!(
            lookup(dir, "ghcr.io").unwrap(),
            Some(Credential::IdentityToken("tok".into()))
        );
        assert_eq!(lookup(dir, "quay.io").unwrap(), None);
    }

    #[test]
    fn docker_hub_alternative_keys() {
        let d = dir_with(r#"{"auths":{"docker.io":{"username":"a","password":"b"}}}"#);
        assert_eq!(
            lookup(Some(d.path()), "docker.io").unwrap(),
            basic("a", "b")
        );
    }

    #[test]
    fn missing_config_is_anonymous_and_malformed_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(lookup(Some(d.path()), "docker.io").unwrap(), None);
        assert_eq!(lookup(None, "docker.io").unwrap(), None);
        let d = dir_with("{not json");
        let e = lookup(Some(d.path()), "docker.io").unwrap_err();
        assert!(matches!(e, RegistryError::Credentials { .. }), "{e}");
        let d = dir_with(r#"{"auths":{"x.io":{"auth":"!!!"}}}"#);
        let e = lookup(Some(d.path()), "x.io").unwrap_err().to_string();
        assert!(e.contains("base64"), "{e}");
    }

    #[test]
    fn missing_helper_is_an_error_without_secrets() {
        let d = dir_with(r#"{"credHelpers":{"x.io":"imagectl-test-no-such-helper"}}"#);
        let e = lookup(Some(d.path()), "x.io").unwrap_err().to_string();
        assert!(e.contains("credential helper"), "{e}");
    }

    #[test]
    fn debug_redacts() {
        let c = basic("user", "hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
