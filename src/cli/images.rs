//! `imagectl images`: docker's columns, filters and `--format`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use jiff::Timestamp;
use serde::Serialize;

use super::args::{Cli, ImagesArgs};
use super::format::{Format, align, human_ago, human_size};
use super::open_store;
use crate::oci::Reference;
use crate::store::InventoryImage;

/// One row, with docker's `--format` field names.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Row {
    containers: String,
    created_at: String,
    created_since: String,
    digest: String,
    #[serde(rename = "ID")]
    id: String,
    repository: String,
    shared_size: String,
    size: String,
    tag: String,
    unique_size: String,
    virtual_size: String,
}

enum Filter {
    Dangling(bool),
    Reference(String),
}

fn parse_filters(specs: &[String]) -> Result<Vec<Filter>> {
    specs
        .iter()
        .map(|spec| {
            let Some((k, v)) = spec.split_once('=') else {
                bail!("bad filter {spec:?}: expected KEY=VALUE (dangling=true|false, reference=PATTERN)");
            };
            match (k, v) {
                ("dangling", "true" | "1") => Ok(Filter::Dangling(true)),
                ("dangling", "false" | "0") => Ok(Filter::Dangling(false)),
                ("dangling", _) => bail!("bad filter {spec:?}: dangling takes true or false"),
                ("reference", pattern) => Ok(Filter::Reference(pattern.to_string())),
                _ => bail!("unknown filter {k:?}: imagectl supports dangling=true|false and reference=PATTERN"),
            }
        })
        .collect()
}

/// `*` and `?` within one path segment, as docker's reference filter (Go's path.Match).
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != b'/')
                .any(|i| go(rest, &t[i..])),
            Some((b'?', rest)) => t.first().is_some_and(|&c| c != b'/') && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn reference_matches(pattern: &str, name: &Reference) -> bool {
    let tag = name.tag().unwrap_or("");
    [name.familiar_name(), name.name()]
        .iter()
        .any(|n| glob(pattern, n) || glob(pattern, &format!("{n}:{tag}")))
}

pub(super) async fn run(cli: &Cli, args: &ImagesArgs) -> Result<ExitCode> {
    let filters = parse_filters(&args.filter)?;
    let format = Format::parse(args.format.as_deref())?;
    let wanted = args
        .reference
        .as_deref()
        .map(Reference::parse_loose)
        .transpose()?;
    let store = open_store(cli).await?;
    let inventory = store.inventory().await?;
    let users = inventory.blob_users();
    let now = Timestamp::now();

    let mut rows = Vec::new();
    for image in &inventory.images {
        if filters
            .iter()
            .any(|f| matches!(f, Filter::Dangling(d) if *d != image.is_dangling()))
        {
            continue;
        }
        for (name, repo, tag, digest) in names(image) {
            if let Some(w) = &wanted {
                let Some(n) = &name else { continue };
                if n.name() != w.name() || w.tag().is_some_and(|t| Some(t) != n.tag()) {
                    continue;
                }
            }
            let passes_reference = filters.iter().all(|f| match f {
                Filter::Reference(p) => name.as_ref().is_some_and(|n| reference_matches(p, n)),
                Filter::Dangling(_) => true,
            });
            if !passes_reference {
                continue;
            }
            let id = if args.no_trunc {
                image.id.to_string()
            } else {
                image.id.short().to_string()
            };
            // Shared and unique sizes, as `docker system df -v` counts them: layers other
            // images need too, and the rest.
            let shared: u64 = image
                .blobs
                .iter()
                .filter(|(d, _)| users.get(*d).copied().unwrap_or(0) > 1)
                .map(|(_, s)| s)
                .sum();
            rows.push(Row {
                containers: if inventory.containers_known {
                    image.containers.len().to_string()
                } else {
                    "N/A".into()
                },
                created_at: image
                    .created
                    .map(|c| c.strftime("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
                    .unwrap_or_default(),
                created_since: human_ago(image.created, now),
                digest,
                id,
                repository: repo,
                shared_size: human_size(shared),
                size: human_size(image.size()),
                tag,
                unique_size: human_size(image.size() - shared),
                virtual_size: human_size(image.size()),
            });
        }
    }

    if args.quiet {
        for r in &rows {
            println!("{}", r.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    match format {
        Some(f) => {
            let header = Row {
                containers: "CONTAINERS".into(),
                created_at: "CREATED AT".into(),
                created_since: "CREATED".into(),
                digest: "DIGEST".into(),
                id: "IMAGE ID".into(),
                repository: "REPOSITORY".into(),
                shared_size: "SHARED SIZE".into(),
                size: "SIZE".into(),
                tag: "TAG".into(),
                unique_size: "UNIQUE SIZE".into(),
                virtual_size: "VIRTUAL SIZE".into(),
            };
            print!("{}", f.render(&rows, Some(&header))?);
        }
        None => {
            let mut table = vec![header(args.digests)];
            for r in rows {
                let mut line = vec![r.repository, r.tag];
                if args.digests {
                    line.push(r.digest);
                }
                line.extend([r.id, r.created_since, r.size]);
                table.push(line);
            }
            print!("{}", align(&table));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn header(digests: bool) -> Vec<String> {
    let mut h = vec!["REPOSITORY", "TAG"];
    if digests {
        h.push("DIGEST");
    }
    h.extend(["IMAGE ID", "CREATED", "SIZE"]);
    h.into_iter().map(str::to_string).collect()
}

/// (name, REPOSITORY, TAG, DIGEST) per row of an image, docker-style.
fn names(image: &InventoryImage) -> Vec<(Option<Reference>, String, String, String)> {
    let digest_for = |n: &Reference| {
        n.digest()
            .map(|d| d.to_string())
            .or_else(|| {
                image
                    .repo_digests
                    .iter()
                    .find(|rd| rd.starts_with(&format!("{}@", n.name())))
                    .and_then(|rd| rd.split_once('@').map(|(_, d)| d.to_string()))
            })
            .unwrap_or_else(|| "<none>".into())
    };
    let mut out: Vec<_> = image
        .names
        .iter()
        .map(|n| {
            (
                Some(n.clone()),
                n.familiar_name(),
                n.tag().unwrap_or("<none>").to_string(),
                digest_for(n),
            )
        })
        .collect();
    for f in &image.foreign_names {
        out.push((None, f.clone(), "<none>".into(), "<none>".into()));
    }
    if out.is_empty() {
        out.push((None, "<none>".into(), "<none>".into(), "<none>".into()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_globs_within_segments() {
        let n = Reference::parse("localhost:5000/demo/app:1.0").unwrap();
        assert!(reference_matches("localhost:5000/demo/*", &n));
        assert!(reference_matches("*/demo/app:1.*", &n));
        assert!(!reference_matches("localhost:5000/*", &n));
        let nginx = Reference::parse("nginx:1.25").unwrap();
        assert!(reference_matches("nginx", &nginx));
        assert!(reference_matches("ngi*:1.2?", &nginx));
        assert!(!reference_matches("busybox", &nginx));
    }
}
