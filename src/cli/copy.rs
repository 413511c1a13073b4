//! `imagectl copy`: an image from one registry to another, digests preserved.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::args::{Cli, CopyArgs};
use super::format::human_size;
use super::registry_client;
use crate::exec::{Copier, CopyRequest};
use crate::oci::{Platform, Reference};
use crate::store::Store;
use crate::store::layout::LayoutStore;

pub(super) async fn run(cli: &Cli, args: &CopyArgs) -> Result<ExitCode> {
    let source = Reference::parse(&args.source)?;
    let target = target_reference(&source, &args.target)?;
    let platforms = args
        .platform
        .iter()
        .map(|p| p.parse::<Platform>())
        .collect::<Result<Vec<_>, _>>()?;
    let client = registry_client(cli)?;
    let copier = Copier::new(client, local_store(cli));
    let req = CopyRequest {
        source: source.clone(),
        target: target.clone(),
        platforms,
        source_digest: None,
    };
    let done = copier
        .copy(&req)
        .await
        .with_context(|| format!("copy {source} -> {target}"))?;
    if done.up_to_date {
        println!("{target} is up to date ({})", done.digest);
    } else {
        println!(
            "Copied {source} -> {target} ({}): {} blobs uploaded ({}), {} mounted, {} already present",
            done.digest,
            done.blobs_uploaded,
            human_size(done.bytes_uploaded),
            done.blobs_mounted,
            done.blobs_present
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// DST as given; without a tag or digest it takes SRC's tag (`copy nginx:1.25 reg/nginx`
/// makes `reg/nginx:1.25`), or `latest` when SRC is pinned by digest only.
fn target_reference(source: &Reference, target: &str) -> Result<Reference> {
    let loose = Reference::parse_loose(target)?;
    if loose.tag().is_some() || loose.digest().is_some() {
        return Ok(loose);
    }
    Ok(loose.with_tag(source.tag().unwrap_or("latest"))?)
}

/// The embedded store, when there is one, to read blobs it holds from disk rather than the
/// source registry; copy never writes to it.
fn local_store(cli: &Cli) -> Option<Arc<dyn Store>> {
    let path = super::store_path(cli).ok()?;
    if !path.join("index.json").exists() {
        return None;
    }
    LayoutStore::open(path)
        .ok()
        .map(|s| Arc::new(s) as Arc<dyn Store>)
}
