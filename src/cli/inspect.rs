//! `imagectl inspect` and `imagectl history`: docker's field names over the stored config.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

use super::args::Cli;
use super::format::{Format, align, ellipsis, execute, human_ago, human_size, template};
use super::open_store;
use crate::image::{Node, WalkError, local};
use crate::oci::Reference;
use crate::store::{Content, InventoryImage, Store, resolve_image};

/// The document `docker image inspect` prints for an image.
fn inspect_doc(image: &InventoryImage) -> Value {
    let config = image.config.clone().unwrap_or(Value::Null);
    let get = |k: &str| config.get(k).cloned().unwrap_or(Value::Null);
    let s = |k: &str| {
        config
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let familiar = |n: &Reference| format!("{}:{}", n.familiar_name(), n.tag().unwrap_or("latest"));
    let repo_tags: Vec<String> = image
        .names
        .iter()
        .filter(|n| n.tag().is_some())
        .map(familiar)
        .collect();
    let repo_digests: Vec<String> = image
        .repo_digests
        .iter()
        .map(|rd| match rd.split_once('@') {
            Some((name, d)) => match Reference::parse_loose(name) {
                Ok(r) => format!("{}@{d}", r.familiar_name()),
                Err(_) => rd.clone(),
            },
            None => rd.clone(),
        })
        .collect();
    json!({
        "Id": image.id.to_string(),
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": s("comment"),
        "Created": s("created"),
        "DockerVersion": s("docker_version"),
        "Author": s("author"),
        "Config": get("config"),
        "Architecture": s("architecture"),
        "Variant": s("variant"),
        "Os": s("os"),
        "Size": image.size(),
        "RootFS": {
            "Type": config.pointer("/rootfs/type").cloned().unwrap_or_else(|| "layers".into()),
            "Layers": config.pointer("/rootfs/diff_ids").cloned().unwrap_or_else(|| json!([])),
        },
        "Metadata": {
            "LastTagTime": image.pulled_at.map(|t| t.to_string()).unwrap_or_default(),
        },
        "Descriptor": {
            "mediaType": image.target.media_type,
            "digest": image.target.digest.to_string(),
            "size": image.target.size,
        },
    })
}

/// The backend's document with every top-level field of docker's typed inspect response
/// present: the Engine omits empty ones (`Variant`), and a template must read them as empty,
/// as `docker inspect -f` does, while a misspelt field stays an error.
fn with_docker_fields(mut doc: Value) -> Value {
    const STRINGS: [&str; 9] = [
        "Parent",
        "Comment",
        "Created",
        "DockerVersion",
        "Author",
        "Architecture",
        "Variant",
        "Os",
        "OsVersion",
    ];
    const OTHERS: [&str; 8] = [
        "Id",
        "RepoTags",
        "RepoDigests",
        "Config",
        "Size",
        "GraphDriver",
        "RootFS",
        "Metadata",
    ];
    if let Some(map) = doc.as_object_mut() {
        for k in STRINGS {
            map.entry(k).or_insert_with(|| Value::from(""));
        }
        for k in OTHERS {
            map.entry(k).or_insert(Value::Null);
        }
    }
    doc
}

pub(super) async fn inspect(
    cli: &Cli,
    images: &[String],
    format: Option<&str>,
) -> Result<ExitCode> {
    let tmpl = format.map(template).transpose()?;
    let store = open_store(cli).await?;
    let inventory = store.inventory().await?;
    let mut docs = Vec::new();
    let mut failed = false;
    for q in images {
        match resolve_image(&inventory, q) {
            // The backend's own document where it has one (the Engine's), so a template
            // written for `docker inspect` reads the same fields.
            Ok(image) => match store.document(image).await? {
                Some(doc) => docs.push(with_docker_fields(doc)),
                None => docs.push(inspect_doc(image)),
            },
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    match &tmpl {
        Some(t) => {
            for d in &docs {
                println!("{}", execute(t, d)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&docs)?),
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct HistoryRow {
    #[serde(rename = "ID")]
    id: String,
    created_at: String,
    created_since: String,
    created_by: String,
    size: String,
    comment: String,
}

pub(super) async fn history(
    cli: &Cli,
    query: &str,
    no_trunc: bool,
    quiet: bool,
    format: Option<&str>,
) -> Result<ExitCode> {
    let format = Format::parse(format)?;
    let store = open_store(cli).await?;
    let inventory = store.inventory().await?;
    let image = resolve_image(&inventory, query)?;
    let now = Timestamp::now();
    if let Some(steps) = store.history(image).await? {
        let rows = engine_rows(&steps, now, no_trunc);
        return print_history(rows, quiet, format);
    }
    let config = image.config.as_ref().ok_or_else(|| {
        anyhow!("{query} is a multi-platform index: pull one platform to see its history")
    })?;
    let content = store
        .content()
        .ok_or_else(|| anyhow!("{} keeps no layers imagectl can read", store.location()))?;
    let layer_sizes = layer_sizes(&*content, image)?;
    let history = config
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut layer = 0;
    let mut rows = Vec::new();
    for entry in &history {
        let empty = entry
            .get("empty_layer")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let size = if empty {
            0
        } else {
            layer += 1;
            layer_sizes.get(layer - 1).copied().unwrap_or(0)
        };
        let created: Option<Timestamp> = entry
            .get("created")
            .and_then(Value::as_str)
            .and_then(|c| c.parse().ok());
        let by = entry
            .get("created_by")
            .and_then(Value::as_str)
            .unwrap_or("")
            .replace('\t', " ");
        rows.push(HistoryRow {
            id: "<missing>".into(),
            created_at: created.map(|c| c.to_string()).unwrap_or_default(),
            created_since: human_ago(created, now),
            created_by: if no_trunc { by } else { ellipsis(&by, 45) },
            size: human_size(size),
            comment: entry
                .get("comment")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        });
    }
    rows.reverse();
    if let Some(first) = rows.first_mut() {
        first.id = if no_trunc {
            image.id.to_string()
        } else {
            image.id.short().to_string()
        };
    }
    print_history(rows, quiet, format)
}

/// Rows from the Engine's own history (newest first, IDs of locally built steps).
fn engine_rows(steps: &[Value], now: Timestamp, no_trunc: bool) -> Vec<HistoryRow> {
    steps
        .iter()
        .map(|s| {
            let str_of = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let created = s
                .get("Created")
                .and_then(Value::as_i64)
                .and_then(|t| Timestamp::from_second(t).ok());
            let id = str_of("Id");
            let by = str_of("CreatedBy").replace('\t', " ");
            HistoryRow {
                id: if id.is_empty() || id == "<missing>" {
                    "<missing>".into()
                } else if no_trunc {
                    id
                } else {
                    id.trim_start_matches("sha256:").chars().take(12).collect()
                },
                created_at: created.map(|c| c.to_string()).unwrap_or_default(),
                created_since: human_ago(created, now),
                created_by: if no_trunc { by } else { ellipsis(&by, 45) },
                size: human_size(s.get("Size").and_then(Value::as_i64).unwrap_or(0).max(0) as u64),
                comment: str_of("Comment"),
            }
        })
        .collect()
}

fn print_history(rows: Vec<HistoryRow>, quiet: bool, format: Option<Format>) -> Result<ExitCode> {
    if quiet {
        for r in &rows {
            println!("{}", r.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    match format {
        Some(f) => {
            let header = HistoryRow {
                id: "IMAGE".into(),
                created_at: "CREATED AT".into(),
                created_since: "CREATED".into(),
                created_by: "CREATED BY".into(),
                size: "SIZE".into(),
                comment: "COMMENT".into(),
            };
            print!("{}", f.render(&rows, Some(&header))?);
        }
        None => {
            let mut table = vec![
                ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
                    .map(String::from)
                    .to_vec(),
            ];
            for r in rows {
                table.push(vec![r.id, r.created_since, r.created_by, r.size, r.comment]);
            }
            print!("{}", align(&table));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Sizes of the image's layers in order (stored, i.e. compressed, sizes).
fn layer_sizes(store: &dyn Store, image: &InventoryImage) -> Result<Vec<u64>> {
    match local(Node::read(&Content(store), &image.target)) {
        Ok(node) => Ok(node.layers().iter().map(|l| l.size).collect()),
        Err(WalkError::Read { error, .. }) => Err(error.into()),
        // An unusable manifest: history shows no layer sizes rather than failing.
        Err(_) => Ok(Vec::new()),
    }
}
