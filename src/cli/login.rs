//! `imagectl login` and `logout`: credentials checked against the registry, then kept where
//! docker keeps them, so docker, skopeo and imagectl share one login.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::args::{Cli, LoginArgs};
use super::format::print_json;
use super::registry_client;
use crate::oci::Reference;
use crate::registry::{
    BasicCredentials, CredentialLocation, LoginCheck, erase_credentials, store_credentials,
};

/// `host[:port]` from what people type after `docker login`: a bare host, a URL, or Docker
/// Hub's legacy index address; `None` means Docker Hub.
fn registry_name(arg: Option<&str>) -> Result<String> {
    let Some(arg) = arg else {
        return Ok("docker.io".into());
    };
    let trimmed = arg
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = trimmed.split('/').next().unwrap_or("");
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        h => h,
    };
    // A registry name is valid exactly when it can start a reference.
    let probe = Reference::parse(&format!("{host}/probe"))
        .ok()
        .filter(|r| r.registry() == host);
    match probe {
        Some(_) => Ok(host.to_string()),
        None => {
            bail!("{arg:?} is not a registry: give host[:port], e.g. registry.example.com:5000")
        }
    }
}

fn prompt(label: &str) -> Result<String> {
    eprint!("{label}: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn password(args: &LoginArgs) -> Result<String> {
    if let Some(p) = &args.password {
        eprintln!(
            "WARNING! Using --password on the command line is insecure: use --password-stdin."
        );
        return Ok(p.clone());
    }
    let stdin = std::io::stdin();
    if args.password_stdin {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("read the password from stdin")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    if !stdin.is_terminal() {
        bail!("no password given: pass --password-stdin (or -p) when stdin is not a terminal");
    }
    rpassword::prompt_password("Password: ").context("read the password from the terminal")
}

pub(super) async fn login(cli: &Cli, args: &LoginArgs) -> Result<ExitCode> {
    let registry = registry_name(args.registry.as_deref())?;
    let username = match &args.username {
        Some(u) => u.clone(),
        None if args.password_stdin || !std::io::stdin().is_terminal() => {
            bail!("no username given: pass -u USER")
        }
        None => prompt("Username")?,
    };
    if username.is_empty() {
        bail!("the username is empty: pass -u USER");
    }
    let password = password(args)?;
    if password.is_empty() {
        bail!("the password is empty");
    }
    let creds = BasicCredentials { username, password };
    let client = registry_client(cli)?;
    let check = client
        .check_login(&registry, &creds)
        .await
        .with_context(|| format!("log in to {registry} as {}", creds.username))?;
    if check == LoginCheck::NotRequired {
        eprintln!("note: {registry} does not ask for credentials; storing them anyway");
    }
    let at = store_credentials(None, &registry, &creds)?;
    if let CredentialLocation::File(path) = &at {
        eprintln!(
            "WARNING! The password is stored unencrypted in {} (configure a credential helper to avoid this).",
            path.display()
        );
    }
    if args.output.json() {
        print_json(&serde_json::json!({
            "registry": registry,
            "username": creds.username,
            "stored_in": location_json(&at),
            "credentials_required": check != LoginCheck::NotRequired,
        }))?;
    } else {
        println!("Login Succeeded");
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn logout(registry: Option<&str>, json: bool) -> Result<ExitCode> {
    let registry = registry_name(registry)?;
    let erased = erase_credentials(None, &registry)?;
    if json {
        print_json(&serde_json::json!({
            "registry": registry,
            "removed_from": erased.as_ref().map(location_json),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    match erased {
        Some(at) => println!("Removing login credentials for {registry} (from {at})"),
        None => println!("Not logged in to {registry}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Where credentials live: `{"file": PATH}` or `{"helper": NAME}`.
fn location_json(at: &CredentialLocation) -> serde_json::Value {
    match at {
        CredentialLocation::File(p) => serde_json::json!({ "file": p }),
        CredentialLocation::Helper(h) => serde_json::json!({ "helper": h }),
    }
}

#[cfg(test)]
mod tests {
    use super::registry_name;

    #[test]
    fn registry_names() {
        let ok = [
            (None, "docker.io"),
            (Some("https://index.docker.io/v1/"), "docker.io"),
            (Some("registry-1.docker.io"), "docker.io"),
            (Some("127.0.0.1:5000"), "127.0.0.1:5000"),
            (Some("http://172.16.0.120:30002/"), "172.16.0.120:30002"),
            (Some("localhost"), "localhost"),
            (Some("ghcr.io"), "ghcr.io"),
        ];
        for (arg, want) in ok {
            assert_eq!(registry_name(arg).unwrap(), want, "{arg:?}");
        }
        for bad in ["", "not a host", "nodots", "a.io:port"] {
            assert!(registry_name(Some(bad)).is_err(), "{bad}");
        }
    }
}
