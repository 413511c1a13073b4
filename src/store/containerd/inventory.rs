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

use bytes::Bytes;

use super::client::Conn;
use crate::image::{ImageSource, ImageTree, Node, local};
use crate::oci::{Descriptor, Digest, Manifest, Reference};
use crate::store::{
    BlobRead, CatalogEntry, Content, Inventory, MAX_METADATA_BLOB, REF_NAME, StoreError,
};

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

/// containerd's content store as an image source, read over its API; a blob its listing
/// does not show is missing without a request.
struct ContentApi<'a> {
    conn: &'a Conn,
    sizes: &'a HashMap<Digest, u64>,
}

impl ContentApi<'_> {
    async fn small(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        if !self.sizes.contains_key(&desc.digest) {
            return Err(StoreError::MissingBlob(desc.digest.clone()));
        }
        Ok(Bytes::from(
            read_blob(self.conn, &desc.digest, MAX_METADATA_BLOB).await?,
        ))
    }
}

impl ImageSource for ContentApi<'_> {
    type Error = StoreError;

    async fn manifest(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        self.small(desc).await
    }

    async fn config(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        self.small(desc).await
    }

    async fn blob_size(&self, desc: &Descriptor) -> Result<Option<u64>, StoreError> {
        Ok(self.sizes.get(&desc.digest).copied())
    }

    fn is_damage(error: &StoreError) -> bool {
        Content::<Prefetched>::is_damage(error)
    }
}

/// The manifests and configs of the image `target` that containerd holds.
async fn prefetch(
    content: &ContentApi<'_>,
    target: &Descriptor,
) -> Result<Vec<(Digest, Bytes)>, StoreError> {
    let mut docs = Vec::new();
    let Some(tree) = ImageTree::survey(content, target, &mut Vec::new()).await? else {
        return Ok(docs);
    };
    for node in std::iter::once(&tree.top).chain(&tree.children) {
        docs.push((node.desc.digest.clone(), node.bytes.clone()));
        if let Some(config) = node.config_desc() {
            match content.config(config).await {
                Ok(bytes) => docs.push((config.digest.clone(), bytes)),
                Err(e) if ContentApi::is_damage(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(docs)
}

/// What was read ahead, as the inventory's walk reads it.
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
    // Every image's manifests and configs, read ahead through the walker, many images
    // at once; damage is left for the inventory's own survey to report.
    let mut targets: Vec<Descriptor> = entries.iter().map(|e| e.target.clone()).collect();
    targets.sort_by(|a, b| a.digest.cmp(&b.digest));
    targets.dedup_by(|a, b| a.digest == b.digest);
    let content = &ContentApi {
        conn,
        sizes: &sizes,
    };
    let read: Vec<Result<Vec<(Digest, Bytes)>, StoreError>> = stream::iter(targets)
        .map(|target| async move { prefetch(content, &target).await })
        .buffer_unordered(READ_AHEAD)
        .collect()
        .await;
    let mut docs: HashMap<Digest, Vec<u8>> = HashMap::new();
    for r in read {
        docs.extend(r?.into_iter().map(|(d, b)| (d, b.to_vec())));
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
    let Ok(Node {
        manifest: Manifest::Index { manifests, .. },
        ..
    }) = local(Node::read(&Content(p), &image.target))
    else {
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
        && let Ok(node) = local(Node::read(&Content(p), one))
        && let Some(config) = node.config_desc()
        && let Some(cfg) = p.docs.get(&config.digest)
    {
        image.id = config.digest.clone();
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(cfg) {
            image.platform = one.platform.clone().or(image.platform.take());
            image.config = Some(value);
        }
    }
}
