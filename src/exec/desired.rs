//! Expanding a policy into the desired state: selectors against each repository's tag list
//! (one listing per selector entry), every wanted tag resolved to a digest with one manifest
//! HEAD. A failure is recorded on its entry — never turned into "no tags wanted" — so the
//! planner leaves that repository alone.

use std::collections::BTreeSet;

use futures_util::{StreamExt, TryStreamExt, stream};
use jiff::Timestamp;

use crate::image::{ImageTree, Selection, Walk};
use crate::oci::{Digest, Platform, Reference};
use crate::plan::{Desired, DesiredEntry, EntryError, PruneRules, ReplicaTarget, WantedImage};
use crate::policy::{ImageSpec, Order, Policy, Unmanaged, select_tags};
use crate::registry::{RegistryClient, RegistryError, Remote};
use crate::store::Inventory;

/// Per wanted image, the blobs a pull would fetch (`None`: not pulled, or unknown).
type MissingBlobs = Option<Vec<(Digest, u64)>>;

/// Requests in flight at once while expanding.
const CONCURRENCY: usize = 8;

/// Expand `policy` against the registries, given what the store holds.
pub async fn expand(client: &RegistryClient, policy: &Policy, inventory: &Inventory) -> Desired {
    let expanded: Vec<(DesiredEntry, Vec<MissingBlobs>)> = stream::iter(&policy.images)
        .map(|spec| expand_entry(client, policy, spec, inventory))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    // Blobs shared by several wanted images are downloaded once: count them once, for the
    // first image (in policy order) that needs them.
    let mut counted: BTreeSet<Digest> = BTreeSet::new();
    let entries = expanded
        .into_iter()
        .map(|(mut entry, blobs)| {
            if let Ok(wanted) = &mut entry.wanted {
                for (w, blobs) in wanted.iter_mut().zip(blobs) {
                    w.size = blobs.as_ref().map(|list| list.iter().map(|(_, s)| s).sum());
                    w.download = blobs.map(|list| {
                        list.into_iter()
                            .filter(|(d, _)| counted.insert(d.clone()))
                            .map(|(_, size)| size)
                            .sum()
                    });
                }
            }
            entry
        })
        .collect();
    Desired {
        entries,
        prune: PruneRules {
            dangling: policy.prune.dangling,
            unmanaged_remove: policy.prune.unmanaged == Unmanaged::Remove,
            keep_within: policy.prune.keep_within,
            max_removals: policy.prune.max_removals,
            max_disk: policy.prune.max_disk,
        },
        replicas: policy
            .replicate
            .iter()
            .map(|r| ReplicaTarget {
                registry: r.registry.clone(),
                prefix: r.prefix.clone(),
                platforms: r.platforms.clone(),
                prune: r.prune,
                ledger: r.ledger.clone(),
                referrers: r.referrers,
            })
            .collect(),
    }
}

/// The platforms an entry keeps.
pub fn entry_platforms(policy: &Policy, spec: &ImageSpec) -> Vec<Platform> {
    if !spec.platforms.is_empty() {
        spec.platforms.clone()
    } else if !policy.defaults.platforms.is_empty() {
        policy.defaults.platforms.clone()
    } else {
        vec![Platform::host()]
    }
}

async fn expand_entry(
    client: &RegistryClient,
    policy: &Policy,
    spec: &ImageSpec,
    inventory: &Inventory,
) -> (DesiredEntry, Vec<MissingBlobs>) {
    let repo = spec.name.without_digest();
    let platforms = entry_platforms(policy, spec);
    let mut entry = DesiredEntry {
        label: spec.origin.to_string(),
        repository: repo.name(),
        wanted: Ok(Vec::new()),
        scope: BTreeSet::new(),
        platforms: platforms.clone(),
    };
    let result = async {
        let mut wanted = Vec::new();
        if let Some(d) = spec.name.digest() {
            wanted.push((spec.name.clone(), d.clone()));
        } else {
            let tags = wanted_tags(client, spec, &repo, inventory, &mut entry.scope).await?;
            let resolved: Vec<(Reference, Digest)> = stream::iter(tags)
                .map(|tag| {
                    let name = repo.with_tag(&tag);
                    async move {
                        let name = name.map_err(|e| EntryError::InvalidTag {
                            reason: e.to_string(),
                        })?;
                        let digest = tag_digest(client, &name, inventory).await?;
                        Ok::<_, EntryError>((name, digest))
                    }
                })
                .buffered(CONCURRENCY)
                .try_collect()
                .await?;
            wanted.extend(resolved);
        }
        let also_tag = spec.also_tag.clone();
        let single = wanted.len() == 1;
        let mut out = Vec::new();
        let mut blobs = Vec::new();
        for (name, digest) in wanted {
            blobs.push(missing_blobs(client, &name, &digest, &platforms, inventory).await);
            out.push(WantedImage {
                name,
                digest,
                also_tag: if single { also_tag.clone() } else { Vec::new() },
                download: None,
                size: None,
            });
        }
        Ok::<_, EntryError>((out, blobs))
    }
    .await;
    match result {
        Ok((wanted, blobs)) => {
            entry.wanted = Ok(wanted);
            (entry, blobs)
        }
        Err(e) => {
            entry.wanted = Err(e);
            (entry, Vec::new())
        }
    }
}

/// The tags an entry wants; fills `scope` with every tag its selector governs.
async fn wanted_tags(
    client: &RegistryClient,
    spec: &ImageSpec,
    repo: &Reference,
    inventory: &Inventory,
    scope: &mut BTreeSet<String>,
) -> Result<Vec<String>, EntryError> {
    let Some(selector) = &spec.selector else {
        return Ok(spec.tags.clone());
    };
    let available = client.list_tags(repo).await.map_err(unanswered)?;
    // The selector's scope covers tags that only the store still has (deleted upstream):
    // they are superseded like any other.
    let local: Vec<String> = inventory
        .images
        .iter()
        .flat_map(|i| i.names.iter())
        .filter(|n| n.name() == repo.name())
        .filter_map(|n| n.tag().map(str::to_string))
        .collect();
    let mut everything = available.clone();
    everything.extend(local);
    everything.sort();
    everything.dedup();
    let scope_spec = ImageSpec {
        tags: Vec::new(),
        selector: Some(crate::policy::Selector {
            keep: None,
            ..selector.clone()
        }),
        ..spec.clone()
    };
    scope.extend(select_tags(&scope_spec, &everything, &|_| None));

    let created = if selector.by == Order::Created {
        created_times(
            client,
            repo,
            &select_tags(&scope_spec, &available, &|_| None),
            inventory,
        )
        .await
    } else {
        Vec::new()
    };
    let lookup = |tag: &str| created.iter().find(|(t, _)| t == tag).and_then(|(_, c)| *c);
    Ok(select_tags(spec, &available, &lookup))
}

/// What `name` points at now. A tag the store holds costs one HEAD (a GET only if the
/// registry sends no digest). A tag it lacks is about to be pulled, so its manifest is
/// fetched at once with a GET: the client keeps it by digest for the pull, and the HEAD
/// that would only have preceded that GET is saved (one request per new image; Docker Hub
/// counts the GET either way, never the HEAD).
async fn tag_digest(
    client: &RegistryClient,
    name: &Reference,
    inventory: &Inventory,
) -> Result<Digest, EntryError> {
    if !inventory
        .images
        .iter()
        .any(|i| i.sources.contains_key(name))
    {
        return match client.get_manifest(name).await {
            Ok(m) => Ok(m.digest),
            Err(e) if e.is_not_found() => Err(EntryError::NotFound { name: name.clone() }),
            Err(e) => Err(unanswered(e)),
        };
    }
    match client.current_digest(name).await {
        Ok(Some(digest)) => Ok(digest),
        Ok(None) => Err(EntryError::NotFound { name: name.clone() }),
        Err(e) => Err(unanswered(e)),
    }
}

/// A registry failure as the pure plan keeps it.
fn unanswered(e: RegistryError) -> EntryError {
    EntryError::Registry {
        reason: e.to_string(),
    }
}

/// Creation times for `by: created`: from the store when it has the image, else from the
/// registry (manifest and config). Costs requests per candidate, which is why semver is
/// the default order.
async fn created_times(
    client: &RegistryClient,
    repo: &Reference,
    tags: &[String],
    inventory: &Inventory,
) -> Vec<(String, Option<Timestamp>)> {
    stream::iter(tags.iter().cloned())
        .map(|tag| async move {
            let created = async {
                let name = repo.with_tag(&tag).ok()?;
                let digest = tag_digest(client, &name, inventory).await.ok()?;
                if let Some(i) = inventory
                    .images
                    .iter()
                    .find(|i| i.sources.get(&name) == Some(&digest))
                {
                    return i.created;
                }
                let top = client.get_manifest(&name.with_digest(digest)).await.ok()?;
                let walk = Walk {
                    select: Selection::First,
                    configs: true,
                };
                let tree = ImageTree::below(&Remote::new(client, repo), top.into_node(), &walk)
                    .await
                    .ok()?;
                let bytes = tree.images().next()?.config.clone()?;
                let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
                v.get("created")?.as_str()?.parse().ok()
            }
            .await;
            (tag, created)
        })
        .buffered(CONCURRENCY)
        .collect()
        .await
}

/// The blobs a pull of `name@digest` would download, or `None` when it would not be pulled
/// (the store has it) or the manifests could not be read. The manifests fetched here are
/// cached by the client, so the pull that follows does not fetch them again.
async fn missing_blobs(
    client: &RegistryClient,
    name: &Reference,
    digest: &Digest,
    platforms: &[Platform],
    inventory: &Inventory,
) -> MissingBlobs {
    if inventory
        .images
        .iter()
        .any(|i| i.sources.get(&name.without_digest()) == Some(digest))
    {
        return None;
    }
    let present: BTreeSet<&Digest> = inventory
        .images
        .iter()
        .flat_map(|i| i.blobs.keys())
        .collect();
    let top = client
        .get_manifest(&name.without_digest().with_digest(digest.clone()))
        .await
        .ok()?;
    let walk = Walk {
        select: Selection::Available(platforms),
        configs: false,
    };
    let tree = ImageTree::below(&Remote::new(client, name), top.into_node(), &walk)
        .await
        .ok()?;
    let missing = tree
        .blobs()
        .into_iter()
        .filter(|b| !present.contains(&b.digest))
        .map(|b| (b.digest, b.size))
        .collect();
    Some(missing)
}
