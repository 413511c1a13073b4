//! `imagectl tag` and `imagectl rmi`.

use std::process::ExitCode;

use anyhow::Result;

use super::args::Cli;
use super::format::{human_size, print_json};
use super::open_store;
use crate::exec::{remove_images, tag_image};
use crate::oci::Reference;
use crate::store::RemoveEvent;

pub(super) async fn tag(cli: &Cli, source: &str, target: &str, json: bool) -> Result<ExitCode> {
    let target = Reference::parse(target)?;
    let store = open_store(cli).await?;
    let id = tag_image(&*store, source, &target).await?;
    if json {
        print_json(&serde_json::json!({
            "source": source,
            "target": target.to_string(),
            "id": id,
        }))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn rmi(cli: &Cli, images: &[String], force: bool, json: bool) -> Result<ExitCode> {
    let store = open_store(cli).await?;
    let (events, failures, freed) = remove_images(&*store, images, force).await?;
    if json {
        // The Engine API's answer to DELETE /images/{name}, with what failed and was freed.
        let deleted: Vec<_> = events.iter().map(event_json).collect();
        print_json(&serde_json::json!({
            "deleted": deleted,
            "failures": failures
                .iter()
                .map(|(q, e)| serde_json::json!({ "image": q, "error": e.to_string() }))
                .collect::<Vec<_>>(),
            "space_reclaimed": freed,
        }))?;
    } else {
        for e in &events {
            match e {
                RemoveEvent::Untagged(n) => match Reference::parse(n) {
                    Ok(r) if r.to_string() == *n => println!("Untagged: {}", r.familiar()),
                    _ => println!("Untagged: {n}"),
                },
                RemoveEvent::Deleted(id) => println!("Deleted: {id}"),
            }
        }
        if cli.verbose > 0 {
            eprintln!("freed {}", human_size(freed));
        }
    }
    for (query, e) in &failures {
        // Named once: most errors name the image already ("no such image: nope:1").
        let e = e.to_string();
        if e.contains(query.as_str()) {
            eprintln!("error: {e}");
        } else {
            eprintln!("error: {query}: {e}");
        }
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A removal as the Engine API reports it: `{"Untagged": NAME}` or `{"Deleted": ID}`.
pub(super) fn event_json(e: &RemoveEvent) -> serde_json::Value {
    match e {
        RemoveEvent::Untagged(n) => serde_json::json!({ "Untagged": n }),
        RemoveEvent::Deleted(id) => serde_json::json!({ "Deleted": id }),
    }
}
