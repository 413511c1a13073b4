//! `save --referrers` and `load` on referrers: which ones an archive carries (those the
//! store keeps for an image, else the ones its registry lists), and what a load into a
//! store that cannot keep them says.

use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::args::Cli;
use super::registry_client;
use crate::archive::{SaveImage, SaveReferrer, held_manifests};
use crate::exec::fetch_referrers;
use crate::oci::{Descriptor, Platform, Reference};
use crate::store::{Backend, ImageStore, Inventory, InventoryImage, Store, referrers_of};

/// One image a save writes referrers for.
pub(super) struct Saved<'a> {
    /// What the user typed.
    pub query: &'a str,
    /// The image in the inventory.
    pub image: &'a InventoryImage,
    /// Its manifest or index as the export stages it.
    pub target: &'a Descriptor,
    /// The name its referrers are looked up under.
    pub name: Option<&'a Reference>,
}

/// The referrer manifests to write beside `images` (saved with `platform`): the store's
/// own when it keeps some for an image, else fetched from the registry of the image's
/// name into `content`, of the manifests the archive holds and of those referrers (kept
/// there when that is the whole image, so a later save or push needs no registry). The
/// archive writer filters both the same way: it writes what hangs from what it holds.
pub(super) async fn gather(
    cli: &Cli,
    inventory: &Inventory,
    images: &[Saved<'_>],
    platform: Option<&Platform>,
    content: Arc<dyn Store>,
) -> Result<Vec<SaveReferrer>> {
    let mut out: Vec<SaveReferrer> = Vec::new();
    let mut client = None;
    for Saved {
        query,
        image,
        target,
        name,
    } in images
    {
        let stored = referrers_of(&inventory.referrers, image);
        let found = if !stored.is_empty() {
            stored
                .into_iter()
                .map(|r| (r.target.clone(), r.tag.clone()))
                .collect()
        } else {
            let Some(name) = name else {
                bail!(
                    "{query} has no name: --referrers asks the registry an image's name points at for its referrers; save it by name"
                );
            };
            let saved = SaveImage {
                query: query.to_string(),
                names: Vec::new(),
                target: (*target).clone(),
            };
            let reading = || format!("{query}: reading it from the store");
            let held = held_manifests(&*content, &saved, platform).with_context(reading)?;
            // What the whole image holds, to tell whether this save is all of it.
            let whole = match platform {
                None => held.clone(),
                Some(_) => held_manifests(&*content, &saved, None).with_context(reading)?,
            };
            let client = match &client {
                Some(c) => c,
                None => client.insert(registry_client(cli)?),
            };
            let fetched = fetch_referrers(
                client,
                content.clone(),
                name,
                &image.target.digest,
                &held,
                held == whole,
            )
            .await
            .with_context(|| {
                format!(
                    "fetching the referrers of {query} from {} (the store keeps none; save without --referrers to stay offline)",
                    name.registry()
                )
            })?;
            if fetched.is_empty() {
                // Not an error (most images are unsigned), but worth a line on stderr:
                // stdout may be the archive.
                eprintln!(
                    "{query}: {} lists no referrers of {} (saved without any)",
                    name.registry(),
                    image.target.digest
                );
            }
            fetched
        };
        for (manifest, tag) in found {
            if !out.iter().any(|o| o.manifest.digest == manifest.digest) {
                out.push(SaveReferrer { manifest, tag });
            }
        }
    }
    Ok(out)
}

/// How many of the `loaded` referrers `store` keeps; a daemon keeps none, which one
/// warning line says.
pub(super) fn loaded(store: &dyn ImageStore, loaded: usize) -> usize {
    if loaded == 0 || store.backend() == Backend::Embedded {
        return loaded;
    }
    eprintln!(
        "warning: the archive's {loaded} referrers (signatures, attestations, SBOMs) were not kept: {} keeps images only, not artifacts that point at them; load into the embedded store (--store PATH) to keep them",
        store.location()
    );
    0
}
