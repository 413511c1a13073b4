//! `imagectl pull`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::args::{Cli, PullArgs};
use super::format::{human_size, print_json};
use super::progress::Progress;
use super::{open_store, registry_client};
use crate::exec::{PullOptions, pull_into};
use crate::oci::{Platform, Reference};

pub(super) async fn run(cli: &Cli, args: &PullArgs) -> Result<ExitCode> {
    let refs = args
        .images
        .iter()
        .map(|s| Reference::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let platform = match &args.platform {
        Some(p) => p.parse::<Platform>()?,
        None => Platform::host(),
    };
    let store = open_store(cli).await?;
    let client = registry_client(cli)?;
    let opts = PullOptions {
        platforms: vec![platform],
        all_platforms: args.all_platforms,
        concurrency: args.concurrency as usize,
    };
    let json = args.output.json();
    let progress = Arc::new(Progress::new(args.quiet || json));
    let report = pull_into(&client, &*store, &refs, &opts, progress.clone())
        .await
        .with_context(|| format!("pull into the store at {}", store.location()))?;

    let mut failed = 0;
    if json {
        let (mut images, mut failures) = (Vec::new(), Vec::new());
        for (reference, result) in &report.results {
            match result {
                Ok(img) => images.push(serde_json::json!({
                    "reference": reference.to_string(),
                    "name": img.name.to_string(),
                    "digest": img.source_digest.to_string(),
                    "id": img.id.to_string(),
                    "up_to_date": img.up_to_date,
                })),
                Err(e) => failures.push(serde_json::json!({
                    "reference": reference.to_string(),
                    "error": e.to_string(),
                })),
            }
        }
        print_json(&serde_json::json!({
            "images": images,
            "failures": failures,
            "blobs_downloaded": report.blobs_downloaded,
            "bytes_downloaded": report.bytes_downloaded,
            "blobs_present": report.blobs_present,
        }))?;
    }
    for (reference, result) in &report.results {
        match result {
            Ok(_) if json => {}
            Ok(img) if args.quiet => println!("{}", img.name),
            Ok(img) => {
                let status = if img.up_to_date {
                    "Image is up to date"
                } else {
                    "Downloaded newer image"
                };
                progress.println(&format!(
                    "{}: {status} (digest {}, id {})",
                    img.name,
                    img.source_digest,
                    img.id.short()
                ));
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {reference}: {e}");
            }
        }
    }
    if !args.quiet && !json && (cli.verbose > 0 || report.results.len() > 1) {
        let ok = report.results.len() - failed;
        let fresh = report
            .results
            .iter()
            .filter(|(_, r)| matches!(r, Ok(i) if i.up_to_date))
            .count();
        eprintln!(
            "pulled {ok} of {} images ({fresh} up to date): {} blobs downloaded ({}), {} already present",
            report.results.len(),
            report.blobs_downloaded,
            human_size(report.bytes_downloaded),
            report.blobs_present
        );
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
