//! Referrers kept in the catalogue beside their images: signatures, attestations and SBOMs
//! (manifests with a `subject`) that `load` brought from an archive or `save --referrers`
//! fetched. Each is a catalogue entry without a name, marked with the digest of its subject,
//! so the layout stays what oras and skopeo write (an `index.json` entry without
//! `ref.name`) while imagectl tells it from an untagged image: it is never listed or pruned
//! as one, and lives exactly as long as its subject does. cosign's signatures and
//! attestations, which name their image by a tag (`sha256-<hex>.sig`) rather than a
//! `subject`, are kept the same way with that tag beside them.

use std::collections::{BTreeMap, BTreeSet};

use super::content::damage_text;
use super::{BlobRead, Catalog, CatalogEntry, Content, InventoryImage, StoreError};
use crate::image::{ImageTree, local};
use crate::oci::{Descriptor, Digest};

/// The annotation that marks a catalogue entry as a referrer of the manifest it names.
pub const SUBJECT: &str = "io.imagectl.subject";
/// The annotation that keeps the tag a referrer is found under at a registry (cosign's
/// `sha256-<hex>.sig`, `.att`, `.sbom`), for one without a `subject`.
pub const REFERRER_TAG: &str = "io.imagectl.referrer.tag";

/// A referrer the store keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReferrer {
    /// The referrer's manifest.
    pub target: Descriptor,
    /// The manifest it refers to: an image's manifest or index, one of an index's
    /// platform manifests, or another referrer (a signature of an SBOM).
    pub subject: Digest,
    /// The tag it goes under (cosign's `sha256-<hex>.sig`); none for a referrer with a
    /// `subject`, which is pushed by digest and listed.
    pub tag: Option<String>,
    /// Its manifest and blobs that are present, with sizes.
    pub blobs: BTreeMap<Digest, u64>,
    /// What of it is missing or unreadable, one line each: `fsck` reports it as it does an
    /// image's damage, since a push or save of the subject would carry it incomplete.
    pub damage: Vec<String>,
}

/// The subject a cosign-style tag names: `sha256-<64 hex>.<suffix>` is a signature,
/// attestation or SBOM of `sha256:<hex>`.
pub fn subject_of_tag(tag: &str) -> Option<Digest> {
    let (hex, suffix) = tag.strip_prefix("sha256-")?.split_once('.')?;
    let suffix_ok = !suffix.is_empty()
        && suffix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if hex.len() != 64 || !suffix_ok {
        return None;
    }
    format!("sha256:{hex}").parse().ok()
}

/// Whether a catalogue entry is a referrer rather than an image.
pub fn is_referrer(entry: &CatalogEntry) -> bool {
    entry.name.is_none() && entry.annotations.contains_key(SUBJECT)
}

/// The catalogue entry that keeps the referrer `target` of `subject` (found under `tag`).
pub fn referrer_entry(target: Descriptor, subject: &Digest, tag: Option<&str>) -> CatalogEntry {
    let mut entry = CatalogEntry::new(
        None,
        Descriptor {
            platform: None,
            ..target
        },
        None,
    );
    entry
        .annotations
        .insert(SUBJECT.to_string(), subject.to_string());
    if let Some(tag) = tag {
        entry
            .annotations
            .insert(REFERRER_TAG.to_string(), tag.to_string());
    }
    entry
}

/// Which of `referrers` (each its own digest and its subject) hang from something `held`
/// says is there, directly or through other referrers: a referrer of a referrer counts
/// once its subject does. The one answer for what the store keeps, what a load keeps and
/// what a save writes.
pub fn hanging_from<E>(
    referrers: &[(&Digest, Option<&Digest>)],
    mut held: impl FnMut(&Digest) -> Result<bool, E>,
) -> Result<Vec<bool>, E> {
    let mut keep = vec![false; referrers.len()];
    let mut kept: BTreeSet<&Digest> = BTreeSet::new();
    // Repeat until nothing moves: each pass can only add.
    loop {
        let mut moved = false;
        for (i, (own, subject)) in referrers.iter().enumerate() {
            let Some(subject) = subject else { continue };
            if !keep[i] && (kept.contains(subject) || held(subject)?) {
                keep[i] = true;
                kept.insert(own);
                moved = true;
            }
        }
        if !moved {
            return Ok(keep);
        }
    }
}

/// The referrers among `entries` whose subject the store still holds (in `images`, or
/// itself a kept referrer), with their blobs. Referrers of a removed image are left out,
/// so garbage collection frees their blobs.
pub(super) fn attached(
    store: &(impl BlobRead + ?Sized),
    entries: Vec<CatalogEntry>,
    images: &[InventoryImage],
) -> Result<Vec<StoredReferrer>, StoreError> {
    let live: BTreeSet<&Digest> = images.iter().flat_map(|i| i.blobs.keys()).collect();
    let mut pending: Vec<(Descriptor, Digest, Option<String>)> = Vec::new();
    for e in entries {
        let subject = e.annotations.get(SUBJECT).and_then(|s| s.parse().ok());
        let tag = e.annotations.get(REFERRER_TAG).cloned();
        if let Some(subject) = subject
            && !pending.iter().any(|(d, _, _)| d.digest == e.target.digest)
        {
            pending.push((e.target, subject, tag));
        }
    }
    let links: Vec<(&Digest, Option<&Digest>)> = pending
        .iter()
        .map(|(t, s, _)| (&t.digest, Some(s)))
        .collect();
    let keep = hanging_from(&links, |s| Ok::<_, StoreError>(live.contains(s)))?;
    pending
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(r, _)| r)
        .map(|(target, subject, tag)| {
            let mut blobs = BTreeMap::new();
            let damage = collect_blobs(store, &target, &mut blobs)?;
            Ok(StoredReferrer {
                target,
                subject,
                tag,
                blobs,
                damage,
            })
        })
        .collect()
}

/// The manifest `desc` and what it names, as far as present, and what is not (a referrer
/// with a missing blob is damage for `fsck` to report, not a reason to fail here).
fn collect_blobs(
    store: &(impl BlobRead + ?Sized),
    desc: &Descriptor,
    blobs: &mut BTreeMap<Digest, u64>,
) -> Result<Vec<String>, StoreError> {
    let mut walked_past = Vec::new();
    let tree = local(ImageTree::survey(&Content(store), desc, &mut walked_past))?;
    let mut damage: Vec<String> = walked_past.into_iter().map(damage_text).collect();
    let Some(tree) = tree else {
        return Ok(damage);
    };
    for node in std::iter::once(&tree.top).chain(&tree.children) {
        blobs.insert(node.desc.digest.clone(), node.bytes.len() as u64);
    }
    for node in tree.images() {
        let config = node.config_desc().map(|c| &c.digest);
        for b in node.manifest.blobs() {
            if blobs.contains_key(&b.digest) {
                continue;
            }
            match store.blob_size(&b.digest)? {
                Some(size) => {
                    blobs.insert(b.digest.clone(), size);
                }
                None if Some(&b.digest) == config => {
                    damage.push(format!("config {} is missing", b.digest))
                }
                None => damage.push(format!("layer {} is missing", b.digest)),
            }
        }
    }
    Ok(damage)
}

/// The stored referrers of `image`: of its manifest or index, its platform manifests,
/// and, transitively, of those referrers.
pub fn referrers_of<'a>(
    referrers: &'a [StoredReferrer],
    image: &InventoryImage,
) -> Vec<&'a StoredReferrer> {
    let mut subjects: BTreeSet<&Digest> = image.blobs.keys().collect();
    subjects.insert(&image.target.digest);
    let mut out: Vec<&StoredReferrer> = Vec::new();
    loop {
        let before = out.len();
        for r in referrers {
            if subjects.contains(&r.subject) && !out.iter().any(|o| o.target == r.target) {
                out.push(r);
                subjects.insert(&r.target.digest);
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// Drop the catalogue entries of referrers whose subject is gone (`kept`: the referrers
/// the inventory still holds), so the catalogue never names a blob garbage collection
/// frees. Returns how many went.
pub fn drop_orphans(
    catalog: &(impl Catalog + ?Sized),
    kept: &[StoredReferrer],
) -> Result<usize, StoreError> {
    let keep: BTreeSet<&Digest> = kept.iter().map(|r| &r.target.digest).collect();
    let mut dropped = 0;
    let orphan = |e: &CatalogEntry| is_referrer(e) && !keep.contains(&e.target.digest);
    if !catalog.entries()?.iter().any(orphan) {
        return Ok(0);
    }
    catalog.update(&mut |entries| {
        let before = entries.len();
        entries.retain(|e| !orphan(e));
        dropped = before - entries.len();
        Ok(())
    })?;
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::media;

    fn digest(b: u8) -> Digest {
        format!("sha256:{}", format!("{b:02x}").repeat(32))
            .parse()
            .unwrap()
    }

    fn desc(b: u8) -> Descriptor {
        Descriptor {
            media_type: media::OCI_MANIFEST.into(),
            digest: digest(b),
            size: 1,
            platform: None,
        }
    }

    #[test]
    fn a_referrer_entry_is_neither_an_image_nor_dangling() {
        let e = referrer_entry(desc(2), &digest(1), None);
        assert!(is_referrer(&e));
        assert!(!e.is_dangling());
        assert!(!is_referrer(&CatalogEntry::new(None, desc(3), None)));
    }

    /// Put a manifest of `config` and `layers` (with a `subject`, if given) in `store`.
    fn manifest(
        store: &crate::store::layout::LayoutStore,
        config: &[u8],
        layers: &[&[u8]],
        subject: Option<&Descriptor>,
    ) -> Descriptor {
        use crate::store::BlobWrite;
        let blob = |b: &[u8]| {
            let d = Digest::of(b);
            store.put_blob(&d, b).unwrap();
            serde_json::json!({ "mediaType": "application/octet-stream", "digest": d.to_string(), "size": b.len() })
        };
        let mut m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": blob(config),
            "layers": layers.iter().map(|l| blob(l)).collect::<Vec<_>>(),
        });
        if let Some(s) = subject {
            m["subject"] = serde_json::json!({ "mediaType": s.media_type, "digest": s.digest.to_string(), "size": s.size });
        }
        let bytes = serde_json::to_vec(&m).unwrap();
        let d = Digest::of(&bytes);
        store.put_blob(&d, &bytes).unwrap();
        Descriptor {
            media_type: media::OCI_MANIFEST.into(),
            digest: d,
            size: bytes.len() as u64,
            platform: None,
        }
    }

    #[test]
    fn referrers_live_as_long_as_their_subject() {
        use crate::store::{Inventory, layout::LayoutStore};
        let dir = tempfile::tempdir().unwrap();
        let store = LayoutStore::open(dir.path().join("s")).unwrap();
        let image = manifest(&store, br#"{"rootfs":{"diff_ids":[]}}"#, &[b"layer"], None);
        let signature = manifest(&store, b"{}", &[b"signature"], Some(&image));
        let sbom_signature = manifest(&store, b"{}", &[b"signature of it"], Some(&signature));
        let stray = manifest(&store, b"{}", &[b"of nothing stored"], Some(&desc(9)));
        let name = crate::oci::Reference::parse("example.com/app:1").unwrap();
        store
            .update(&mut |entries| {
                entries.push(CatalogEntry::new(Some(name.clone()), image.clone(), None));
                for (r, s) in [
                    (&sbom_signature, &signature),
                    (&signature, &image),
                    (&stray, &desc(9)),
                ] {
                    entries.push(referrer_entry(r.clone(), &s.digest, None));
                }
                Ok(())
            })
            .unwrap();

        let inventory = Inventory::load(&store).unwrap();
        assert_eq!(inventory.images.len(), 1, "referrers are no images");
        let kept: BTreeSet<&Digest> = inventory
            .referrers
            .iter()
            .map(|r| &r.target.digest)
            .collect();
        assert_eq!(
            kept,
            BTreeSet::from([&signature.digest, &sbom_signature.digest])
        );
        assert_eq!(
            referrers_of(&inventory.referrers, &inventory.images[0]).len(),
            2
        );
        assert!(
            inventory
                .referenced_blobs()
                .contains(&Digest::of(b"signature of it"))
        );
        assert_eq!(drop_orphans(&store, &inventory.referrers).unwrap(), 1);

        store
            .update(&mut |entries| {
                entries.retain(|e| e.name.is_none());
                Ok(())
            })
            .unwrap();
        let inventory = Inventory::load(&store).unwrap();
        assert!(inventory.referrers.is_empty());
        assert!(
            !inventory
                .referenced_blobs()
                .contains(&Digest::of(b"signature"))
        );
        assert_eq!(drop_orphans(&store, &inventory.referrers).unwrap(), 2);
        assert!(store.entries().unwrap().is_empty());
    }

    #[test]
    fn cosign_tags_name_their_subject() {
        let hex = "ab".repeat(32);
        let subject = format!("sha256:{hex}").parse::<Digest>().unwrap();
        for suffix in ["sig", "att", "sbom"] {
            assert_eq!(
                subject_of_tag(&format!("sha256-{hex}.{suffix}")),
                Some(subject.clone())
            );
        }
        for bad in [
            format!("sha256-{hex}"),
            format!("sha256-{hex}."),
            format!("sha256-{}.sig", &hex[2..]),
            format!("sha256-{hex}.S/G"),
            "1.0.0".to_string(),
        ] {
            assert_eq!(subject_of_tag(&bad), None, "{bad}");
        }
    }
}
