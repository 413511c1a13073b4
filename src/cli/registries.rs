//! The registry client's settings from what the user configured: the registries config
//! file (`--config`, `$IMAGECTL_CONFIG`, else `$XDG_CONFIG_HOME/imagectl/registries.yaml`),
//! a policy's `registries:` (which wins per registry) and `--insecure-registry`, with
//! password sources read now.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};

use super::args::Cli;
use crate::policy::{RegistrySpec, load_registries};
use crate::registry::{
    BasicCredentials, ClientConfig, ClientIdentity, Mirror, RegistrySettings, normalize_registry,
};

/// The default config file, if the user has a config directory.
pub(super) fn default_config_file() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("imagectl").join("registries.yaml"))
}

/// The config file's `registries:`: an explicit file must exist; a missing default file
/// means no configuration. Every problem is printed as `error: FILE:LINE:COLUMN: …`; the
/// last one is returned.
pub(super) fn config_file_registries(cli: &Cli) -> Result<BTreeMap<String, RegistrySpec>> {
    let file = match &cli.config {
        Some(f) => f.clone(),
        None => match default_config_file() {
            Some(f) if f.exists() => f,
            _ => return Ok(BTreeMap::new()),
        },
    };
    match load_registries(&file) {
        Ok(map) => Ok(map),
        Err(mut errors) => {
            let last = errors.0.pop().map(|e| e.to_string()).unwrap_or_default();
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            Err(anyhow!(last))
        }
    }
}

/// The client settings: the config file's registries, overridden per registry by
/// `policy` (a policy's entry replaces the config file's entry for that host), then
/// `--insecure-registry`.
pub(super) fn client_config(
    cli: &Cli,
    policy: Option<&BTreeMap<String, RegistrySpec>>,
) -> Result<ClientConfig> {
    let mut specs = config_file_registries(cli)?;
    if let Some(p) = policy {
        for (host, spec) in p {
            specs.insert(host.clone(), spec.clone());
        }
    }
    let mut registries = BTreeMap::new();
    for (host, spec) in &specs {
        registries.insert(host.clone(), settings(host, spec)?);
    }
    for flag in &cli.insecure_registries {
        let host = normalize_registry(flag);
        let entry: &mut RegistrySettings = registries.entry(host).or_default();
        entry.insecure = Some(true);
    }
    Ok(ClientConfig {
        registries,
        ..ClientConfig::default()
    })
}

/// One registry's settings, with its password read from the environment or a file. A
/// missing variable or unreadable file is reported when that registry is used, naming the
/// registry and the source, never the secret.
fn settings(host: &str, spec: &RegistrySpec) -> Result<RegistrySettings> {
    let mirrors = spec
        .mirrors
        .iter()
        .map(|m| Mirror::parse(m).map_err(|e| anyhow!("registry {host}: mirror {e}")))
        .collect::<Result<Vec<_>>>()?;
    let client_identity = match (&spec.client_cert, &spec.client_key) {
        (Some(cert), Some(key)) => Some(ClientIdentity {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (None, None) => None,
        _ => bail!("registry {host}: client_cert and client_key go together"),
    };
    let (credentials, credentials_error) = match &spec.username {
        None => (None, None),
        Some(username) => match password(spec) {
            Ok(password) => (
                Some(BasicCredentials {
                    username: username.clone(),
                    password,
                }),
                None,
            ),
            Err(reason) => (None, Some(reason)),
        },
    };
    Ok(RegistrySettings {
        mirrors,
        insecure: spec.insecure,
        tls_verify: spec.tls_verify,
        ca_file: spec.ca_file.clone(),
        client_identity,
        credentials,
        credentials_error,
    })
}

/// The password from `password_env` or `password_file`; `Err` names the source and what to
/// do, never the secret.
fn password(spec: &RegistrySpec) -> std::result::Result<String, String> {
    match (&spec.password_env, &spec.password_file) {
        (Some(var), _) => std::env::var(var).map_err(|_| {
            format!("environment variable {var} (password_env) is not set: export it or use password_file")
        }),
        (None, Some(file)) => std::fs::read_to_string(file)
            .map(|p| p.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| format!("cannot read password_file {}: {e}", file.display())),
        (None, None) => Err("username needs password_env or password_file".to_string()),
    }
}
