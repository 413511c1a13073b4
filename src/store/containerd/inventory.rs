//! containerd's images as an [`Inventory`]: the image records of the namespace grouped by
//! target, content sizes from one content listing, manifests and configs read ahead
//! concurrently, then the same walk as every other store. CRI's records fold into one
//! image: the tag, `repo@digest` (the registry digest of the name) and the `sha256:<config>`
//! ID record.

use std::collections::{BTreeMap, HashMap};

use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::{
    Image, ListContentRequest, ListImagesRequest, ReadContentRequest,
};
use futures_util::{StreamExt, stream};
use jiff::Timestamp;

use super::client::Conn;
use crate::oci::{Descriptor, Digest, Manifest, Reference};
use crate::store::{BlobRead, CatalogEntry, Inventory, MAX_METADATA_BLOB, REF_NAME, StoreError};

/// Manifests and configs read at once.
const READ_AHEAD: usize = 32;

/// Every image record of the namespace.
pub async fn records(conn: &Conn) -> Result<Vec<Image>, StoreError> {
    let mut images = ImagesClient::new(conn.channel.clone());
    Ok(images
        .list(conn.req(ListImagesRequest { filters: vec![] }))
        .await
        .map_err(|s| conn.error("listing images", s))?
        .into_inner()
        .images)
}

/// Every blob in the content store with its size.
pub async fn content_sizes(conn: &Conn) -> Result<HashMap<Digest, u64>, StoreError> {
    let mut content = ContentClient::new(conn.channel.clone());
    let mut stream = content
        .list(conn.req(ListContentRequest { filters: vec![] }))
        .await
        .map_err(|s| conn.error("listing content", s))?
        .into_inner();
    let mut sizes = HashMap::new();
    while let Some(page) = stream
        .message()
        .await
        .map_err(|s| conn.error("listing content", s))?
    {
        for info in page.info {
            if let Ok(d) = info.digest.parse::<Digest>() {
                sizes.insert(d, info.size.max(0) as u64);
            }
        }
    }
    Ok(sizes)
}

/// A whole blob (manifest, config) from the content store, refused when larger than `max`.
pub async fn read_blob(conn: &Conn, digest: &Digest, max: u64) -> Result<Vec<u8>, StoreError> {
    let mut content = ContentClient::new(conn.channel.clone());
    let mut stream = content
        .read(conn.req(ReadContentRequest {
            digest: digest.to_string(),
            offset: 0,
            size: 0,
        }))
        .await
        .map_err(|s| match s.code() {
            containerd_client::tonic::Code::NotFound => StoreError::MissingBlob(digest.clone()),
            _ => conn.error(&format!("reading {digest}"), s),
        })?
        .into_inner();
    let mut out = Vec::new();
    while let Some(chunk) = stream
        .message()
        .await
        .map_err(|s| conn.error(&format!("reading {digest}"), s))?
    {
        out.extend_from_slice(&chunk.data);
        if out.len() as u64 > max {
            return Err(StoreError::TooLarge {
                digest: digest.clone(),
                size: out.len() as u64,
                max,
            });
        }
    }
    let actual = Digest::of(&out);
    if actual != *digest {
        return Err(StoreError::Corrupt {
            expected: digest.clone(),
            expected_size: out.len() as u64,
            actual_digest: actual,
            actual_size: out.len() as u64,
        });
    }
    Ok(out)
}

/// What the walk reads, fetched ahead: sizes of everything, bytes of the small documents.
struct Prefetched {
    sizes: HashMap<Digest, u64>,
    docs: HashMap<Digest, Vec<u8>>,
}

impl BlobRead for Prefetched {
    fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        Ok(self.sizes.get(digest).copied())
    }

    fn read_blob(&self, digest: &Digest, _max: u64) -> Result<Vec<u8>, StoreError> {
        self.docs
            .get(digest)
            .cloned()
            .ok_or_else(|| StoreError::MissingBlob(digest.clone()))
    }

    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn std::io::Read + Send>, StoreError> {
        Ok(Box::new(std::io::Cursor::new(self.read_blob(digest, 0)?)))
    }
}

/// One record's name, as it reads.
enum RecordName {
    /// `repo:tag` (or a name imagectl parses).
    Name(Reference),
    /// `repo@sha256:…`: the registry digest of that repository's name; `true` when it is a
    /// name asked for (imagectl's label), not only CRI's record beside a tag.
    Digest(Reference, bool),
    /// `sha256:<config>`: CRI's ID record.
    Id,
    /// Anything else another tool wrote.
    Foreign(String),
}

fn classify(record: &Image) -> RecordName {
    let name = record.name.as_str();
    if name.parse::<Digest>().is_ok() {
        return RecordName::Id;
    }
    match Reference::parse(name) {
        Ok(r) if r.digest().is_some() && r.tag().is_none() => {
            let asked = record
                .labels
                .get(super::ingest::DIGEST_NAME.0)
                .map(String::as_str)
                == Some(super::ingest::DIGEST_NAME.1);
            RecordName::Digest(r, asked)
        }
        Ok(r) => RecordName::Name(r),
        Err(_) => RecordName::Foreign(name.to_string()),
    }
}

fn timestamp(t: &Option<prost_types::Timestamp>) -> Option<Timestamp> {
    t.as_ref()
        .and_then(|t| Timestamp::new(t.seconds, t.nanos).ok())
}

/// The descriptor a record points at.
fn target(image: &Image) -> Option<Descriptor> {
    let t = image.target.as_ref()?;
    Some(Descriptor {
        media_type: t.media_type.clone(),
        digest: t.digest.parse().ok()?,
        size: t.size.max(0) as u64,
        platform: None,
    })
}

/// Catalogue entries for `records`: one per name, plus one nameless entry for a target
/// held only by digest or ID records (dangling for docker users: `<none>`).
pub fn entries(records: &[Image]) -> Vec<CatalogEntry> {
    let mut by_target: BTreeMap<Digest, Vec<&Image>> = BTreeMap::new();
    for r in records {
        if let Some(t) = target(r) {
            by_target.entry(t.digest).or_default().push(r);
        }
    }
    let mut out = Vec::new();
    for group in by_target.values() {
        let Some(desc) = target(group[0]) else {
            continue;
        };
        let mut names = Vec::new();
        let mut digests = Vec::new();
        let mut foreign = Vec::new();
        for r in group {
            let at = timestamp(&r.updated_at).max(timestamp(&r.created_at));
            match classify(r) {
                RecordName::Name(n) => names.push((n, at)),
                RecordName::Digest(n, asked) => digests.push((n, asked, at)),
                RecordName::Foreign(f) => foreign.push((f, at)),
                RecordName::Id => {}
            }
        }
        let source_of = |n: &Reference| {
            digests
                .iter()
                .find(|(d, _, _)| d.name() == n.name())
                .and_then(|(d, _, _)| d.digest().cloned())
        };
        let mut named = false;
        for (n, at) in &names {
            let mut e = CatalogEntry::new(Some(n.clone()), desc.clone(), source_of(n));
            e.pulled_at = *at;
            e.last_used = *at;
            out.push(e);
            named = true;
        }
        // A digest someone asked for (a pin) is a name; CRI's record beside a tag is not,
        // and an image left with only that (its tag moved) is dangling, as in docker.
        for (d, asked, at) in &digests {
            if *asked {
                let mut e = CatalogEntry::new(Some(d.clone()), desc.clone(), d.digest().cloned());
                e.pulled_at = *at;
                e.last_used = *at;
                out.push(e);
                named = true;
            }
        }
        for (f, at) in &foreign {
            let mut e = CatalogEntry::new(None, desc.clone(), None);
            e.annotations.insert(REF_NAME.to_string(), f.clone());
            e.pulled_at = *at;
            e.last_used = *at;
            out.push(e);
            named = true;
        }
        if !named {
            let at = group
                .iter()
                .filter_map(|r| timestamp(&r.updated_at).max(timestamp(&r.created_at)))
                .max();
            let mut e = CatalogEntry::new(None, desc.clone(), None);
            e.pulled_at = at;
            e.last_used = at;
            out.push(e);
        }
    }
    out
}

/// The inventory of `records` (containers and pins are added by the caller).
pub async fn load(conn: &Conn, records: &[Image]) -> Result<Inventory, StoreError> {
    let sizes = content_sizes(conn).await?;
    let entries = entries(records);
    let mut docs: HashMap<Digest, Vec<u8>> = HashMap::new();
    // Targets, then their children (present ones: containerd keeps only the platforms it
    // pulled), then configs: three rounds of concurrent reads.
    let mut wave: Vec<Digest> = entries.iter().map(|e| e.target.digest.clone()).collect();
    wave.sort();
    wave.dedup();
    while !wave.is_empty() {
        let fetched: Vec<(Digest, Result<Vec<u8>, StoreError>)> = stream::iter(
            wave.into_iter()
                .filter(|d| sizes.contains_key(d) && !docs.contains_key(d)),
        )
        .map(|d| async move {
            let r = read_blob(conn, &d, MAX_METADATA_BLOB).await;
            (d, r)
        })
        .buffer_unordered(READ_AHEAD)
        .collect()
        .await;
        let mut next = Vec::new();
        for (d, r) in fetched {
            let bytes = match r {
                Ok(b) => b,
                // Damage the walk reports for the image.
                Err(
                    StoreError::MissingBlob(_)
                    | StoreError::Corrupt { .. }
                    | StoreError::TooLarge { .. },
                ) => continue,
                Err(e) => return Err(e),
            };
            match Manifest::parse(&bytes, None) {
                Ok(Manifest::Index { manifests, .. }) => {
                    next.extend(manifests.iter().map(|m| m.digest.clone()))
                }
                Ok(Manifest::Image { config, .. }) => next.push(config.digest.clone()),
                Err(_) => {}
            }
            docs.insert(d, bytes);
        }
        next.sort();
        next.dedup();
        wave = next;
    }
    let prefetched = Prefetched { sizes, docs };
    let mut inventory = Inventory::from_entries(&prefetched, entries)?;
    for image in &mut inventory.images {
        only_present_platforms(&prefetched, image);
    }
    Ok(inventory)
}

/// containerd keeps the whole index of a multi-platform image but only the platforms it
/// pulled: children that are absent are not damage, and the image's ID is its platform's
/// config digest (as CRI reports it) when exactly one platform is here.
fn only_present_platforms(p: &Prefetched, image: &mut crate::store::InventoryImage) {
    let Some(bytes) = p.docs.get(&image.target.digest) else {
        return;
    };
    let Ok(Manifest::Index { manifests, .. }) = Manifest::parse(bytes, None) else {
        return;
    };
    let present: Vec<&Descriptor> = manifests
        .iter()
        .filter(|m| p.docs.contains_key(&m.digest))
        .collect();
    if present.is_empty() {
        return;
    }
    let absent: Vec<String> = manifests
        .iter()
        .filter(|m| !p.docs.contains_key(&m.digest))
        .map(|m| format!("manifest {} is missing", m.digest))
        .collect();
    image.damage.retain(|d| !absent.contains(d));
    if let [one] = present.as_slice()
        && let Some(Ok(Manifest::Image { config, .. })) =
            p.docs.get(&one.digest).map(|b| Manifest::parse(b, None))
        && let Some(cfg) = p.docs.get(&config.digest)
    {
        image.id = config.digest.clone();
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(cfg) {
            image.platform = one.platform.clone().or(image.platform.take());
            image.config = Some(value);
        }
    }
}
