//! `imagectl tags` and `imagectl search`: what a registry holds, before pulling any of it.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::args::{Cli, SearchArgs, TagsArgs};
use super::format::{Format, align, ellipsis};
use super::registry_client;
use crate::exec::is_fallback_tag;
use crate::oci::Reference;
use crate::registry::split_search_term;

/// One `tags` row, for templates.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagRow {
    name: String,
    tag: String,
}

pub(super) async fn tags(cli: &Cli, args: &TagsArgs) -> Result<ExitCode> {
    let repo = Reference::parse_loose(&args.repository)?;
    if repo.tag().is_some() || repo.digest().is_some() {
        bail!(
            "{} names an image, not a repository: give it without :tag or @digest",
            args.repository
        );
    }
    let format = Format::parse(args.format.as_deref())?;
    let client = registry_client(cli)?;
    let mut tags = client
        .list_tags(&repo)
        .await
        .with_context(|| format!("list the tags of {}", repo.name()))?;
    if !args.all {
        tags.retain(|t| !is_fallback_tag(t));
    }
    // The distribution spec asks for lexical order but not every registry keeps it.
    tags.sort();
    match format {
        None => {
            for t in &tags {
                println!("{t}");
            }
        }
        Some(Format::Json) => {
            let doc = serde_json::json!({ "name": repo.name(), "tags": tags });
            println!("{doc}");
        }
        Some(f) => {
            let rows: Vec<TagRow> = tags
                .iter()
                .map(|t| TagRow {
                    name: repo.name(),
                    tag: t.clone(),
                })
                .collect();
            let header = TagRow {
                name: "NAME".into(),
                tag: "TAG".into(),
            };
            print!("{}", f.render(&rows, Some(&header))?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One `search` row, with docker's `--format` field names.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SearchRow {
    name: String,
    description: String,
    star_count: String,
    is_official: String,
    is_automated: String,
}

/// Docker truncates descriptions in its table to this many characters.
const DESCRIPTION_WIDTH: usize = 45;

pub(super) async fn search(cli: &Cli, args: &SearchArgs) -> Result<ExitCode> {
    let (registry, term) = split_search_term(&args.term);
    if term.is_empty() {
        bail!("nothing to search for: give a term, e.g. `imagectl search nginx`");
    }
    let format = Format::parse(args.format.as_deref())?;
    let client = registry_client(cli)?;
    let hits = client
        .search(&registry, &term, args.limit as usize)
        .await
        .with_context(|| format!("search {registry} for {term:?}"))?;
    let flag = |b: bool| if b { "[OK]" } else { "" }.to_string();
    let rows: Vec<SearchRow> = hits
        .iter()
        .map(|h| SearchRow {
            name: h.name.clone(),
            description: if args.no_trunc || format.is_some() {
                h.description.clone()
            } else {
                ellipsis(&h.description, DESCRIPTION_WIDTH)
            },
            star_count: h.stars.to_string(),
            is_official: flag(h.official),
            is_automated: flag(h.automated),
        })
        .collect();
    match format {
        Some(f) => {
            let header = SearchRow {
                name: "NAME".into(),
                description: "DESCRIPTION".into(),
                star_count: "STARS".into(),
                is_official: "OFFICIAL".into(),
                is_automated: "AUTOMATED".into(),
            };
            print!("{}", f.render(&rows, Some(&header))?);
        }
        None => {
            let mut cells = vec![vec![
                "NAME".to_string(),
                "DESCRIPTION".into(),
                "STARS".into(),
                "OFFICIAL".into(),
            ]];
            cells.extend(
                rows.into_iter()
                    .map(|r| vec![r.name, r.description, r.star_count, r.is_official]),
            );
            print!("{}", align(&cells));
        }
    }
    Ok(ExitCode::SUCCESS)
}
