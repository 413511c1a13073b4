//! `imagectl copy` (registry to registry, digests preserved) and `imagectl push` (from the
//! store to a registry).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::args::{Cli, CopyArgs, PushArgs};
use super::format::{human_size, print_json};
use super::{open_store, registry_client};
use crate::archive;
use crate::exec::{
    CarriedReferrers, Copier, CopyOutcome, CopyRequest, KnownReferrers, ReferrerCopier,
    ReferrerFinder, push_stored_referrers,
};
use crate::oci::{Platform, Reference};
use crate::store::{LockMode, Resolved, Store, StoreSpec, resolve};

pub(super) async fn run(cli: &Cli, args: &CopyArgs) -> Result<ExitCode> {
    let source = Reference::parse(&args.source)?;
    let target = target_reference(&source, &args.target)?;
    let platforms = args
        .platform
        .iter()
        .map(|p| p.parse::<Platform>())
        .collect::<Result<Vec<_>, _>>()?;
    let client = registry_client(cli)?;
    let copier = Arc::new(Copier::new(client.clone(), local_store(cli).await));
    let req = CopyRequest {
        source: source.clone(),
        target: target.clone(),
        platforms,
        source_digest: None,
        target_checked: false,
    };
    let done = copier
        .copy(&req)
        .await
        .with_context(|| format!("copy {source} -> {target}"))?;
    let carried = if args.referrers {
        let finder = Arc::new(
            ReferrerFinder::new(client.clone(), local_store(cli).await).following_referrers(),
        );
        let carrier = ReferrerCopier::new(copier.clone(), client, finder);
        let carried = carrier
            .carry(&source, &done.digest, &target, &KnownReferrers::default())
            .await
            .with_context(|| format!("copying the referrers of {source} to {target}"))?;
        Some(carried)
    } else {
        None
    };
    report(
        "Copied",
        &source.to_string(),
        &target,
        &done,
        args.output.json(),
    )?;
    if let Some(c) = carried {
        print_carried(&c, args.output.json());
    }
    Ok(ExitCode::SUCCESS)
}

/// What `--referrers` carried, after the image's line (text only: the JSON document is
/// the image's).
fn print_carried(c: &CarriedReferrers, json: bool) {
    if !json {
        println!(
            "Referrers: {} held by the target ({} pushed, {} blobs uploaded)",
            c.held.manifests.len() + c.held.tags.len(),
            c.pushed,
            c.blobs_uploaded
        );
    }
}

/// One line per image: what was sent, or that nothing needed to be.
fn report(
    verb: &str,
    what: &str,
    target: &Reference,
    done: &CopyOutcome,
    json: bool,
) -> Result<()> {
    if json {
        print_json(&serde_json::json!({
            "source": what,
            "target": target.to_string(),
            "digest": done.digest.to_string(),
            "up_to_date": done.up_to_date,
            "blobs_uploaded": done.blobs_uploaded,
            "bytes_uploaded": done.bytes_uploaded,
            "blobs_mounted": done.blobs_mounted,
            "blobs_present": done.blobs_present,
        }))?;
    } else if done.up_to_date {
        println!("{target} is up to date ({})", done.digest);
    } else {
        println!(
            "{verb} {what} -> {target} ({}): {} blobs uploaded ({}), {} mounted, {} already present",
            done.digest,
            done.blobs_uploaded,
            human_size(done.bytes_uploaded),
            done.blobs_mounted,
            done.blobs_present
        );
    }
    Ok(())
}

/// `imagectl push IMAGE [DST]`: an image of the store to a registry, under DST or, like
/// `docker push`, under the name given.
pub(super) async fn push(cli: &Cli, args: &PushArgs) -> Result<ExitCode> {
    let store = open_store(cli).await?;
    // Held for the whole push, so a concurrent prune cannot delete a blob being read.
    let _lock = store.lock(LockMode::Shared).await?;
    let inventory = store.inventory().await?;
    let (image, own_name) = match resolve(&inventory, &args.image)? {
        Resolved::Name(i) => (i, Reference::parse(&args.image).ok()),
        Resolved::Id(hits) => (hits[0], None),
    };
    let own_named = own_name.is_some();
    let target = match (&args.target, own_name) {
        (Some(t), Some(own)) => target_reference(&own, t)?,
        (Some(t), None) => Reference::parse(t)?,
        (None, Some(name)) => name,
        (None, None) => anyhow::bail!(
            "{} names an image by ID: give the destination, e.g. `imagectl push {} registry.example/app:1.0`",
            args.image,
            args.image
        ),
    };
    // From the store's own content, or (a daemon) from its export in a staging store.
    let export = store
        .export(&[image], Arc::new(archive::Codec))
        .await
        .with_context(|| format!("exporting {} from {}", args.image, store.location()))?;
    let staged = export.staged(image).with_context(|| {
        format!(
            "{}: the export from {} lacks it",
            args.image,
            store.location()
        )
    })?;
    let client = registry_client(cli)?;
    let copier = Arc::new(Copier::new(client.clone(), Some(export.content())));
    let done = copier
        .push_from_store(&staged.target, &target)
        .await
        .with_context(|| format!("push {} -> {target}", args.image))?;
    report("Pushed", &args.image, &target, &done, args.output.json())?;
    let kept = crate::store::referrers_of(&inventory.referrers, image);
    if args.referrers && !kept.is_empty() {
        // The store keeps the image's referrers (a loaded archive): no source registry.
        let carried = push_stored_referrers(copier, client, &*export.content(), &kept, &target)
            .await
            .with_context(|| format!("pushing the referrers of {} to {target}", args.image))?;
        print_carried(&carried, args.output.json());
    } else if args.referrers {
        let Some(source) = Reference::parse(&args.image).ok().filter(|_| own_named) else {
            anyhow::bail!(
                "--referrers needs IMAGE by name (the registry it names holds its referrers), not by ID"
            );
        };
        let finder = Arc::new(
            ReferrerFinder::new(client.clone(), Some(export.content())).following_referrers(),
        );
        let carried = ReferrerCopier::new(copier, client, finder)
            .carry(&source, &done.digest, &target, &KnownReferrers::default())
            .await
            .with_context(|| format!("copying the referrers of {source} to {target}"))?;
        print_carried(&carried, args.output.json());
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
async fn local_store(cli: &Cli) -> Option<Arc<dyn Store>> {
    let path = super::store_path(cli)?;
    if !path.join("index.json").exists() {
        return None;
    }
    crate::store::open(&StoreSpec::Embedded(path))
        .await
        .ok()?
        .content()
}
