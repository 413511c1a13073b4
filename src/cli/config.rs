//! `imagectl config import-docker`: docker's `daemon.json` registry settings
//! (`registry-mirrors`, `insecure-registries`) as an imagectl registries config; and
//! `imagectl config check`, which validates a registries config the way `validate` does a
//! policy.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::args::Cli;
use super::format::print_json;
use super::registries::default_config_file;
use crate::policy::load_registries;
use crate::registry::{Mirror, normalize_registry};

/// Checks `file` (else the config file other commands would read): one summary line, or
/// every problem as its own `error:` line and exit 1, like `validate`.
pub(super) fn check(cli: &Cli, file: Option<&Path>, json: bool) -> Result<ExitCode> {
    let file = match file.map(Path::to_path_buf).or_else(|| cli.config.clone()) {
        Some(f) => f,
        None => match default_config_file() {
            Some(f) if f.exists() => f,
            Some(f) if json => {
                print_json(&serde_json::json!({
                    "file": f, "exists": false, "ok": true, "registries": 0, "errors": [],
                }))?;
                return Ok(ExitCode::SUCCESS);
            }
            Some(f) => {
                println!(
                    "no registries config: {} does not exist (registries use their defaults and Docker's config.json credentials)",
                    f.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            None if json => {
                print_json(&serde_json::json!({
                    "file": null, "exists": false, "ok": true, "registries": 0, "errors": [],
                }))?;
                return Ok(ExitCode::SUCCESS);
            }
            None => {
                println!("no registries config: this user has no config directory");
                return Ok(ExitCode::SUCCESS);
            }
        },
    };
    let outcome = load_registries(&file);
    if json {
        let (count, errors) = match &outcome {
            Ok(map) => (map.len(), &[][..]),
            Err(errors) => (0, &errors.0[..]),
        };
        print_json(&serde_json::json!({
            "file": file,
            "exists": true,
            "ok": errors.is_empty(),
            "registries": count,
            "errors": errors.iter().map(super::validate::error_json).collect::<Vec<_>>(),
        }))?;
    }
    match outcome {
        Ok(_) if json => Ok(ExitCode::SUCCESS),
        Ok(map) => {
            println!("{}: ok ({} registries)", file.display(), map.len());
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prints the registries.yaml equivalent of `file` to stdout.
pub(super) fn import_docker(file: &Path) -> Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| {
        format!(
            "cannot read {}: pass the path of docker's daemon.json",
            file.display()
        )
    })?;
    let yaml = daemon_json_to_yaml(&text, file)?;
    print!("{yaml}");
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Deserialize)]
struct DaemonJson {
    #[serde(default, rename = "registry-mirrors")]
    registry_mirrors: Vec<String>,
    #[serde(default, rename = "insecure-registries")]
    insecure_registries: Vec<String>,
}

/// The translation: `registry-mirrors` become `docker.io`'s mirrors (docker uses them for
/// Docker Hub only), each `insecure-registries` host gets `insecure: true`; what cannot
/// be translated (CIDR ranges, malformed URLs) becomes a comment saying why.
fn daemon_json_to_yaml(text: &str, file: &Path) -> Result<String> {
    let d: DaemonJson = serde_json::from_str(text)
        .with_context(|| format!("{} is not docker's daemon.json", file.display()))?;
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut out = format!(
        "# imagectl registries config, from {} by `imagectl config import-docker`\n",
        file.display()
    );
    let mut notes = Vec::new();
    let mut mirrors = Vec::new();
    for m in &d.registry_mirrors {
        match Mirror::parse(m) {
            Ok(mirror) => mirrors.push(mirror.to_string()),
            Err(e) => notes.push(format!("registry-mirrors entry {m:?} skipped: {e}")),
        }
    }
    let mut insecure = Vec::new();
    for entry in &d.insecure_registries {
        if entry.contains('/') && !entry.contains("://") {
            notes.push(format!(
                "insecure-registries entry {entry:?} is a CIDR range, which imagectl cannot use: add `insecure: true` entries for each registry host[:port] in it"
            ));
        } else {
            let host = normalize_registry(entry);
            if !insecure.contains(&host) {
                insecure.push(host);
            }
        }
    }
    for n in &notes {
        let _ = writeln!(out, "# {n}");
    }
    if mirrors.is_empty() && insecure.is_empty() {
        out.push_str("registries: {}\n");
        return Ok(out);
    }
    out.push_str("registries:\n");
    let docker_io_insecure = insecure.iter().any(|h| h == "docker.io");
    if !mirrors.is_empty() {
        out.push_str("  docker.io:\n    mirrors:\n");
        for m in &mirrors {
            let _ = writeln!(out, "      - {}", q(m));
        }
        if docker_io_insecure {
            out.push_str("    insecure: true\n");
        }
    }
    for host in &insecure {
        if host == "docker.io" && !mirrors.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {}:\n    insecure: true", q(host));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_mirrors_and_insecure_registries() {
        let y = daemon_json_to_yaml(
            r#"{"registry-mirrors":["https://mirror.gcr.io/","ftp://x"],
                "insecure-registries":["172.16.0.120:30002","10.0.0.0/8","http://h:5000/"],
                "log-driver":"json-file"}"#,
            Path::new("daemon.json"),
        )
        .unwrap();
        assert!(
            y.contains("  docker.io:\n    mirrors:\n      - \"https://mirror.gcr.io\"\n"),
            "{y}"
        );
        assert!(
            y.contains("  \"172.16.0.120:30002\":\n    insecure: true\n"),
            "{y}"
        );
        assert!(y.contains("  \"h:5000\":\n    insecure: true\n"), "{y}");
        assert!(
            y.contains("# insecure-registries entry \"10.0.0.0/8\" is a CIDR range"),
            "{y}"
        );
        assert!(
            y.contains("# registry-mirrors entry \"ftp://x\" skipped"),
            "{y}"
        );
        let empty = daemon_json_to_yaml("{}", Path::new("d.json")).unwrap();
        assert!(empty.ends_with("registries: {}\n"), "{empty}");
        assert!(daemon_json_to_yaml("[1]", Path::new("d.json")).is_err());
    }
}
