//! Referrers in an OCI layout archive (signatures, attestations, SBOMs: manifests with a
//! `subject`), the way oras and skopeo keep them in a layout: a descriptor in `index.json`
//! without `ref.name`, the manifest and its blobs under `blobs/sha256/`. cosign's tag-named
//! signatures (no `subject`) carry their tag in an `io.imagectl.referrer.tag` annotation.
//! Save writes them after the images; load verifies them like any image content (every
//! blob's digest as it streams, sizes against the manifest) and keeps them byte for byte.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::{Value, json};

use super::collected::{Collected, Outcome};
use super::entries::{blob_entry, blob_name, check_size, queue, walk_failed};
use super::{ArchiveError, SaveReferrer};
use crate::image::{ImageTree, Walk, WalkError, local};
use crate::oci::{Descriptor, Digest, Manifest};
use crate::store::{
    BlobRead, Content, REF_NAME, REFERRER_TAG, hanging_from, referrer_entry, subject_of_tag,
};

/// The subject the manifest document `bytes` (stored as `desc`) names, if any; a document
/// that does not parse, subject included, is refused naming its entry.
fn subject_of(desc: &Descriptor, bytes: &[u8]) -> Result<Option<Digest>, ArchiveError> {
    let manifest = Manifest::parse(bytes, Some(&desc.media_type)).map_err(|source| {
        ArchiveError::Manifest {
            entry: blob_name(&desc.digest),
            source,
        }
    })?;
    Ok(manifest.subject().map(|s| s.digest.clone()))
}

/// When the `index.json` entry `desc` (raw: `raw`) is a referrer, check it and everything
/// it names against the archive and add it to `out`; `false` for an image.
pub(super) fn take(
    c: &Collected,
    desc: &Descriptor,
    raw: &Value,
    out: &mut Outcome,
) -> Result<bool, ArchiveError> {
    let annotations = raw.get("annotations").and_then(Value::as_object);
    let named = annotations.is_some_and(|a| {
        a.contains_key(REF_NAME) || a.contains_key(super::oci_save::CONTAINERD_NAME)
    });
    let name = blob_name(&desc.digest);
    let Some(bytes) = c.json.get(&name).filter(|_| !named) else {
        return Ok(false);
    };
    let tag = annotations
        .and_then(|a| a.get(REFERRER_TAG))
        .map(|t| t.as_str().unwrap_or_default());
    let subject = match tag {
        Some(t) => Some(subject_of_tag(t).ok_or_else(|| ArchiveError::Malformed {
            entry: "index.json".into(),
            reason: format!(
                "{REFERRER_TAG} of {} is {t:?}, not a tag like sha256-<hex>.sig",
                desc.digest
            ),
        })?),
        None => subject_of(desc, bytes)?,
    };
    let Some(subject) = subject else {
        return Ok(false);
    };
    check_size(&name, desc.size, bytes.len() as u64)?;
    add_manifest(c, desc, &name, out)?;
    out.entries
        .push(referrer_entry(desc.clone(), &subject, tag));
    out.referrers += 1;
    Ok(true)
}

/// Check the referrer `desc` (entry `name`), the manifests it names and their blobs
/// against the archive; queue all of them, byte for byte.
fn add_manifest(
    c: &Collected,
    desc: &Descriptor,
    name: &str,
    out: &mut Outcome,
) -> Result<(), ArchiveError> {
    let tree = local(ImageTree::read(c, desc, &Walk::WHOLE)).map_err(walk_failed)?;
    for b in tree.blobs() {
        let (entry, digest) = blob_entry(c, &b, &format!("the referrer {name} names it"))?;
        queue(c, out, &entry, digest);
    }
    // Byte for byte: a signature's digest is what verifiers look up.
    for node in tree.children.iter().chain(std::iter::once(&tree.top)) {
        out.documents
            .push((node.desc.digest.clone(), node.bytes.to_vec()));
    }
    Ok(())
}

/// Leave out of `out` the referrers whose subject is neither in the archive nor in
/// `store` (a referrer of an image saved with another `--platform`): the catalogue would
/// only drop them again. Says how many went, in the log.
pub(super) fn without_orphans(store: &dyn BlobRead, out: &mut Outcome) -> Result<(), ArchiveError> {
    let present: BTreeSet<&Digest> = out.documents.iter().map(|(d, _)| d).collect();
    let referrers: Vec<usize> = (0..out.entries.len())
        .filter(|&i| crate::store::is_referrer(&out.entries[i]))
        .collect();
    let subjects: Vec<Option<Digest>> = referrers
        .iter()
        .map(|&i| {
            out.entries[i]
                .annotations
                .get(crate::store::SUBJECT)
                .and_then(|s| s.parse::<Digest>().ok())
        })
        .collect();
    let links: Vec<(&Digest, Option<&Digest>)> = referrers
        .iter()
        .zip(&subjects)
        .map(|(&i, s)| (&out.entries[i].target.digest, s.as_ref()))
        .collect();
    let keep = hanging_from(&links, |s| {
        Ok::<_, ArchiveError>(present.contains(s) || store.blob_size(s)?.is_some())
    })?;
    let pending: Vec<usize> = referrers
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| !*k)
        .map(|(i, _)| i)
        .collect();
    if !pending.is_empty() {
        tracing::warn!(
            "{} referrers in the archive refer to nothing it or the store holds; not kept",
            pending.len()
        );
        out.referrers -= pending.len();
        let entries = std::mem::take(&mut out.entries);
        out.entries = entries
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !pending.contains(i))
            .map(|(_, e)| e)
            .collect();
    }
    Ok(())
}

/// The manifests and indexes `tree` holds: what the referrers written beside it may refer
/// to.
pub(super) fn manifests_of(tree: &ImageTree) -> impl Iterator<Item = &Digest> {
    std::iter::once(&tree.top)
        .chain(&tree.children)
        .map(|n| &n.desc.digest)
}

/// Write those of `referrers` (manifests in `store`) whose subject the archive holds — a
/// manifest or index in `held`, or a referrer written here — with their blobs not `written`
/// yet, and their `index.json` entries (no name; the `artifactType` a referrers list would
/// show, a cosign tag in an annotation) into `entries`. A referrer of a platform manifest a
/// `--platform` save left out is not written: a load would drop it as an orphan.
pub(super) fn write<W: Write>(
    store: &dyn BlobRead,
    referrers: &[SaveReferrer],
    held: &BTreeSet<Digest>,
    written: &mut BTreeSet<Digest>,
    entries: &mut Vec<Value>,
    builder: &mut tar::Builder<W>,
) -> Result<(), ArchiveError> {
    let mut read = Vec::new();
    for r in referrers {
        let tree = local(ImageTree::read(&Content(store), &r.manifest, &Walk::WHOLE)).map_err(
            |e| match e {
                WalkError::Read { error, .. } => error.into(),
                WalkError::Manifest { desc, source, .. } => ArchiveError::Manifest {
                    entry: blob_name(&desc.digest),
                    source,
                },
                other => ArchiveError::Malformed {
                    entry: blob_name(&r.manifest.digest),
                    reason: other.to_string(),
                },
            },
        )?;
        let subject = match &r.tag {
            Some(tag) => subject_of_tag(tag),
            None => tree.top.manifest.subject().map(|s| s.digest.clone()),
        };
        read.push((r, tree, subject));
    }
    let links: Vec<(&Digest, Option<&Digest>)> = read
        .iter()
        .map(|(r, _, subject)| (&r.manifest.digest, subject.as_ref()))
        .collect();
    let keep = hanging_from(&links, |s| Ok::<_, ArchiveError>(held.contains(s)))?;
    for ((r, tree, _), _) in read.iter().zip(keep).filter(|(_, k)| *k) {
        for b in tree.blobs() {
            if written.insert(b.digest.clone()) {
                let blob = store.open_blob(&b.digest)?;
                super::oci_save::blob_entry(builder, &b.digest, b.size, blob)?;
            }
        }
        for node in tree.children.iter().chain(std::iter::once(&tree.top)) {
            if written.insert(node.desc.digest.clone()) {
                let n = node.bytes.len() as u64;
                super::oci_save::blob_entry(builder, &node.desc.digest, n, &node.bytes[..])?;
            }
        }
        let (bytes, manifest) = (&tree.top.bytes, &tree.top.manifest);
        let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        let mut entry = json!({
            "mediaType": manifest.media_type(),
            "digest": r.manifest.digest.to_string(),
            "size": bytes.len(),
        });
        if let Some(t) = v.get("artifactType").and_then(Value::as_str) {
            entry["artifactType"] = json!(t);
        }
        if let Some(tag) = &r.tag {
            entry["annotations"] = json!({ REFERRER_TAG: tag });
        }
        entries.push(entry);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::super::load;
    use super::*;
    use crate::oci::media;
    use crate::store::layout::LayoutStore;
    use crate::store::{BlobGc, Catalog};

    /// An OCI layout tar holding one referrer of `subject`: an artifact manifest with an
    /// empty config and a payload layer; `edit` changes the parts before they are written.
    fn archive(edit: impl FnOnce(&mut Value, &mut Value, &mut Vec<(String, Vec<u8>)>)) -> Vec<u8> {
        let payload = b"a signature".to_vec();
        let subject = Digest::of(b"the signed manifest");
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "artifactType": "application/vnd.example.signature.v1+json",
            "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}").to_string(), "size": 2 },
            "layers": [{ "mediaType": "application/vnd.example.signature.v1+json", "digest": Digest::of(&payload).to_string(), "size": payload.len() }],
            "subject": { "mediaType": media::OCI_MANIFEST, "digest": subject.to_string(), "size": 19 },
        });
        let mut entry = json!({});
        let mut blobs = vec![
            (blob_name(&Digest::of(b"{}")), b"{}".to_vec()),
            (blob_name(&Digest::of(&payload)), payload),
        ];
        edit(&mut manifest, &mut entry, &mut blobs);
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let d = Digest::of(&bytes);
        let mut e = json!({ "mediaType": media::OCI_MANIFEST, "digest": d.to_string(), "size": bytes.len() });
        if let Some(a) = entry.get("annotations") {
            e["annotations"] = a.clone();
        }
        if let Some(size) = entry.get("size") {
            e["size"] = size.clone();
        }
        blobs.push((blob_name(&d), bytes));
        let index = json!({ "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": [e] });
        let mut b = tar::Builder::new(Vec::new());
        let mut files = vec![
            (
                "oci-layout".to_string(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            (
                "index.json".to_string(),
                serde_json::to_vec(&index).unwrap(),
            ),
        ];
        files.extend(blobs);
        for (name, data) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, &data[..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// Load `bytes` into a store that holds the subject of [`archive`]'s referrer.
    fn load_into(bytes: Vec<u8>) -> (tempfile::TempDir, LayoutStore, Result<usize, ArchiveError>) {
        let dir = tempfile::tempdir().unwrap();
        let store = LayoutStore::open(dir.path().join("s")).unwrap();
        let subject = b"the signed manifest";
        crate::store::BlobWrite::put_blob(&store, &Digest::of(subject), subject).unwrap();
        let res = load(&store, Box::new(Cursor::new(bytes))).map(|r| r.referrers);
        (dir, store, res)
    }

    #[test]
    fn a_referrer_is_kept_as_one_marked_entry_with_its_blobs() {
        let (_dir, store, res) = load_into(archive(|_, _, _| {}));
        assert_eq!(res.unwrap(), 1);
        let entries = store.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert!(crate::store::is_referrer(&entries[0]));
        assert_eq!(store.list_blobs().unwrap().len(), 4);
    }

    #[test]
    fn a_referrer_of_nothing_held_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = LayoutStore::open(dir.path().join("s")).unwrap();
        let loaded = load(&store, Box::new(Cursor::new(archive(|_, _, _| {})))).unwrap();
        assert_eq!(loaded.referrers, 0);
        assert!(store.entries().unwrap().is_empty());
    }

    #[test]
    fn a_referrer_without_its_payload_is_refused_and_nothing_is_kept() {
        let (_dir, store, res) = load_into(archive(|_, _, blobs| {
            blobs.remove(1);
        }));
        let err = res.unwrap_err();
        assert!(matches!(err, ArchiveError::MissingEntry { .. }), "{err}");
        assert!(err.to_string().contains("the referrer"), "{err}");
        assert!(store.entries().unwrap().is_empty());
        assert_eq!(
            store.list_blobs().unwrap().len(),
            1,
            "the subject, as it was"
        );
    }

    #[test]
    fn a_payload_of_another_size_than_the_manifest_says_is_refused() {
        let (_dir, store, res) = load_into(archive(|m, _, _| {
            m["layers"][0]["size"] = json!(3);
        }));
        let err = res.unwrap_err();
        assert!(
            matches!(err, ArchiveError::Mismatch { what: "size", .. }),
            "{err}"
        );
        assert!(store.entries().unwrap().is_empty());
    }

    #[test]
    fn a_referrer_tag_that_names_no_subject_is_refused() {
        let (_dir, store, res) = load_into(archive(|_, e, _| {
            e["annotations"] = json!({ REFERRER_TAG: "../../latest" });
        }));
        let err = res.unwrap_err();
        assert!(matches!(err, ArchiveError::Malformed { .. }), "{err}");
        assert!(err.to_string().contains("sha256-<hex>.sig"), "{err}");
        assert!(store.entries().unwrap().is_empty());
    }

    /// A referrer whose subject is no descriptor (no size) is refused with the manifest
    /// parse's own error, naming its entry, and nothing is kept.
    #[test]
    fn a_referrer_whose_subject_is_no_descriptor_is_refused() {
        let (_dir, store, res) = load_into(archive(|m, _, _| {
            m["subject"].as_object_mut().unwrap().remove("size");
        }));
        let err = res.unwrap_err();
        assert!(
            matches!(
                err,
                ArchiveError::Manifest {
                    source: crate::oci::ManifestError::Malformed { .. },
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().starts_with("blobs/sha256/"), "{err}");
        assert!(store.entries().unwrap().is_empty());
    }

    /// A referrer of a sha512 subject (a descriptor the spec allows) refers to nothing a
    /// store holds: not kept, as `save --referrers` does not keep it, rather than refusing
    /// the archive.
    #[test]
    fn a_referrer_of_a_sha512_subject_is_not_kept() {
        let sha512 = format!("sha512:{}", "f".repeat(128));
        let (_dir, store, res) = load_into(archive(|m, _, _| {
            m["subject"]["digest"] = json!(sha512);
        }));
        assert_eq!(res.unwrap(), 0);
        assert!(store.entries().unwrap().is_empty());
    }

    #[test]
    fn an_index_entry_with_the_wrong_size_is_refused() {
        let (_dir, _store, res) = load_into(archive(|_, e, _| {
            e["size"] = json!(7);
        }));
        assert!(matches!(
            res.unwrap_err(),
            ArchiveError::Mismatch { what: "size", .. }
        ));
    }

    /// Put an artifact manifest of `subject` (none: cosign's tag-named kind) with `payload`
    /// into `store`; its descriptor.
    fn artifact(store: &LayoutStore, subject: Option<&Digest>, payload: &[u8]) -> Descriptor {
        use crate::store::BlobWrite;
        store.put_blob(&Digest::of(b"{}"), b"{}").unwrap();
        store.put_blob(&Digest::of(payload), payload).unwrap();
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}").to_string(), "size": 2 },
            "layers": [{ "mediaType": "application/octet-stream", "digest": Digest::of(payload).to_string(), "size": payload.len() }],
        });
        if let Some(s) = subject {
            m["subject"] =
                json!({ "mediaType": media::OCI_MANIFEST, "digest": s.to_string(), "size": 1 });
        }
        let bytes = serde_json::to_vec(&m).unwrap();
        store.put_blob(&Digest::of(&bytes), &bytes).unwrap();
        Descriptor {
            media_type: media::OCI_MANIFEST.to_string(),
            digest: Digest::of(&bytes),
            size: bytes.len() as u64,
            platform: None,
        }
    }

    /// Save writes the referrers of what the archive holds, a referrer of such a referrer
    /// (whichever comes first in the list) and a cosign signature tagged for a held
    /// manifest, but not a referrer of a manifest the archive leaves out.
    #[test]
    fn save_writes_only_referrers_of_what_the_archive_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = LayoutStore::open(dir.path().join("s")).unwrap();
        let (held, left_out) = (Digest::of(b"saved"), Digest::of(b"left out"));
        let sbom = artifact(&store, Some(&held), b"sbom");
        let signed_sbom = artifact(&store, Some(&sbom.digest), b"signature of the sbom");
        let other = artifact(&store, Some(&left_out), b"sbom of the other platform");
        let cosign = artifact(&store, None, b"cosign");
        let tag = format!("sha256-{}.sig", held.hex());
        let save = |manifest: &Descriptor, tag: Option<&str>| SaveReferrer {
            manifest: manifest.clone(),
            tag: tag.map(str::to_string),
        };
        let referrers = [
            save(&signed_sbom, None),
            save(&other, None),
            save(&sbom, None),
            save(&cosign, Some(&tag)),
        ];
        let mut entries = Vec::new();
        let mut builder = tar::Builder::new(Vec::new());
        write(
            &store,
            &referrers,
            &BTreeSet::from([held]),
            &mut BTreeSet::new(),
            &mut entries,
            &mut builder,
        )
        .unwrap();
        let written: Vec<&str> = entries
            .iter()
            .map(|e| e["digest"].as_str().unwrap())
            .collect();
        assert_eq!(
            written,
            [
                signed_sbom.digest.to_string(),
                sbom.digest.to_string(),
                cosign.digest.to_string()
            ]
        );
    }
}
