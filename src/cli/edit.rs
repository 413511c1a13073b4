//! `imagectl tag` and `imagectl rmi`.

use std::process::ExitCode;

use anyhow::Result;

use super::args::Cli;
use super::format::human_size;
use super::open_store;
use crate::exec::{remove_images, tag_image};
use crate::oci::Reference;
use crate::store::RemoveEvent;

pub(super) async fn tag(cli: &Cli, source: &str, target: &str) -> Result<ExitCode> {
    let target = Reference::parse(target)?;
    let store = open_store(cli).await?;
    tag_image(&*store, source, &target).await?;
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn rmi(cli: &Cli, images: &[String], force: bool) -> Result<ExitCode> {
    let store = open_store(cli).await?;
    let (events, failures, freed) = remove_images(&*store, images, force).await?;
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
    for (query, e) in &failures {
        eprintln!("error: {query}: {e}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
