//! Writing and erasing credentials for `login`/`logout` where docker keeps them: a credential
//! helper when `config.json` names one (`credHelpers`, then `credsStore`), else the file's
//! `auths` section, replaced atomically with mode 0600 and every other key left as it was.
//!
//! Written here rather than with a crate: `docker_credential` only reads, and the protocol is
//! two small JSON exchanges with `docker-credential-<name> store|erase`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{Map, Value};

use super::BasicCredentials;
use super::credentials::{config_dir, keys};
use super::error::RegistryError;

/// Where `login` put the credentials, or where `logout` removed them from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialLocation {
    /// The `auths` section of this `config.json`.
    File(PathBuf),
    /// The credential helper `docker-credential-<name>`.
    Helper(String),
}

impl std::fmt::Display for CredentialLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Helper(h) => write!(f, "credential helper docker-credential-{h}"),
        }
    }
}

/// The key docker writes a registry's entry under: the legacy index URL for Docker Hub, the
/// bare `host[:port]` for everything else.
pub fn server_key(registry: &str) -> String {
    keys(registry).remove(0)
}

/// Store `creds` for `registry` in Docker's config (directory `configured`, else
/// `$DOCKER_CONFIG`, else `~/.docker`).
pub fn store_credentials(
    configured: Option<&Path>,
    registry: &str,
    creds: &BasicCredentials,
) -> Result<CredentialLocation, RegistryError> {
    let fail = |reason: String| RegistryError::CredentialStore {
        registry: registry.to_string(),
        reason,
    };
    let path = config_path(configured).ok_or_else(|| {
        fail("no home directory is known: set DOCKER_CONFIG to a directory".into())
    })?;
    let mut config = read_config(&path).map_err(fail)?;
    let key = server_key(registry);
    if let Some(helper) = helper_for(&config, registry) {
        let request = serde_json::json!({
            "ServerURL": key,
            "Username": creds.username,
            "Secret": creds.password,
        });
        run_helper(&helper, "store", request.to_string().as_bytes()).map_err(fail)?;
        return Ok(CredentialLocation::Helper(helper));
    }
    let auths = section(&mut config, "auths").map_err(fail)?;
    for k in keys(registry) {
        auths.remove(&k);
    }
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", creds.username, creds.password));
    auths.insert(key, serde_json::json!({ "auth": encoded }));
    write_config(&path, &config).map_err(fail)?;
    Ok(CredentialLocation::File(path))
}

/// Remove what is stored for `registry`; `None` when nothing was.
pub fn erase_credentials(
    configured: Option<&Path>,
    registry: &str,
) -> Result<Option<CredentialLocation>, RegistryError> {
    let fail = |reason: String| RegistryError::CredentialStore {
        registry: registry.to_string(),
        reason,
    };
    let Some(path) = config_path(configured) else {
        return Ok(None);
    };
    if !path.exists() {
        return Ok(None);
    }
    let mut config = read_config(&path).map_err(fail)?;
    if let Some(helper) = helper_for(&config, registry) {
        return match run_helper(&helper, "erase", server_key(registry).as_bytes()) {
            Ok(()) => Ok(Some(CredentialLocation::Helper(helper))),
            Err(e) if e.to_ascii_lowercase().contains("credentials not found") => Ok(None),
            Err(e) => Err(fail(e)),
        };
    }
    let auths = section(&mut config, "auths").map_err(fail)?;
    let removed = keys(registry)
        .iter()
        .filter(|k| auths.remove(k.as_str()).is_some())
        .count();
    if removed == 0 {
        return Ok(None);
    }
    write_config(&path, &config).map_err(fail)?;
    Ok(Some(CredentialLocation::File(path)))
}

fn config_path(configured: Option<&Path>) -> Option<PathBuf> {
    config_dir(configured).map(|d| d.join("config.json"))
}

/// The file as a JSON object; an absent file is an empty one. A malformed file is an error:
/// rewriting it would destroy whatever else the user keeps there.
fn read_config(path: &Path) -> Result<Map<String, Value>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(format!(
            "{} is not a JSON object; fix or move it first",
            path.display()
        )),
    }
}

fn section<'a>(
    config: &'a mut Map<String, Value>,
    name: &str,
) -> Result<&'a mut Map<String, Value>, String> {
    config
        .entry(name)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| format!("the {name:?} key of config.json is not an object"))
}

/// The helper docker picks for `registry`: its `credHelpers` entry, else `credsStore`.
fn helper_for(config: &Map<String, Value>, registry: &str) -> Option<String> {
    let per_registry = config
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|helpers| keys(registry).iter().find_map(|k| helpers.get(k).cloned()));
    per_registry
        .or_else(|| config.get("credsStore").cloned())
        .and_then(|v| v.as_str().map(str::to_string))
        .filter(|s| !s.is_empty())
}

/// Run `docker-credential-<helper> <action>` with `input` on stdin. Errors carry the helper's
/// first output line, never the input (which holds the secret).
fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<(), String> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program} (named by config.json): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .map_err(|e| format!("writing to {program}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for {program}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let said = if out.stderr.iter().all(u8::is_ascii_whitespace) {
        out.stdout
    } else {
        out.stderr
    };
    let said = String::from_utf8_lossy(&said);
    let first: String = said
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(200)
        .collect();
    Err(format!("{program} {action} failed: {first}"))
}

/// Replace `path` atomically: a 0600 temporary file in the same directory, then a rename, so
/// a crash never leaves a truncated config and the secret is never world-readable.
fn write_config(path: &Path, config: &Map<String, Value>) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut text = serde_json::to_string_pretty(config).map_err(|e| e.to_string())?;
    text.push('\n');
    let mut tmp = tempfile::Builder::new()
        .prefix(".config.json.")
        .tempfile_in(dir)
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    // tempfile creates files 0600 already; say so explicitly in case that default changes.
    tmp.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {}: {e}", dir.display()))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| format!("cannot replace {}: {}", path.display(), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::credentials::{Credential, lookup};

    fn creds(u: &str, p: &str) -> BasicCredentials {
        BasicCredentials {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn store_keeps_other_keys_and_lookup_reads_it_back() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"other.io":{"auth":"eDp5"},"https://127.0.0.1:5000":{"auth":"b2xkOm9sZA=="}},"psFormat":"table {{.ID}}"}"#,
        )
        .unwrap();
        let at = store_credentials(Some(d.path()), "127.0.0.1:5000", &creds("u", "p:w")).unwrap();
        assert_eq!(at, CredentialLocation::File(path.clone()));
        let written: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(written["psFormat"], "table {{.ID}}");
        assert_eq!(written["auths"]["other.io"]["auth"], "eDp5");
        assert!(written["auths"].get("https://127.0.0.1:5000").is_none());
        assert_eq!(
            lookup(Some(d.path()), "127.0.0.1:5000").unwrap(),
            Some(Credential::Basic {
                username: "u".into(),
                password: "p:w".into()
            })
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);

        let erased = erase_credentials(Some(d.path()), "127.0.0.1:5000").unwrap();
        assert_eq!(erased, Some(CredentialLocation::File(path.clone())));
        assert_eq!(lookup(Some(d.path()), "127.0.0.1:5000").unwrap(), None);
        assert_eq!(
            erase_credentials(Some(d.path()), "127.0.0.1:5000").unwrap(),
            None
        );
    }

    #[test]
    fn docker_hub_uses_the_index_url_key() {
        let d = tempfile::tempdir().unwrap();
        store_credentials(Some(d.path()), "docker.io", &creds("a", "b")).unwrap();
        let written: Value =
            serde_json::from_slice(&std::fs::read(d.path().join("config.json")).unwrap()).unwrap();
        assert!(written["auths"]["https://index.docker.io/v1/"]["auth"].is_string());
    }

    #[test]
    fn malformed_config_is_not_overwritten() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), "[1,2").unwrap();
        let e = store_credentials(Some(d.path()), "x.io", &creds("a", "secret-pw")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("not a JSON object"), "{text}");
        assert!(!text.contains("secret-pw"));
        assert_eq!(
            std::fs::read_to_string(d.path().join("config.json")).unwrap(),
            "[1,2"
        );
    }

    #[test]
    fn a_missing_helper_is_named_without_the_secret() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("config.json"),
            r#"{"credsStore":"imagectl-test-no-such-helper"}"#,
        )
        .unwrap();
        let e = store_credentials(Some(d.path()), "x.io", &creds("a", "secret-pw"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("docker-credential-imagectl-test-no-such-helper"),
            "{e}"
        );
        assert!(!e.contains("secret-pw"));
    }
}
