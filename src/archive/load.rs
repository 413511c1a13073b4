//! Reads an archive stream (file or pipe) into the store: entries are checked and staged
//! as they stream, matched up at the end, and published only when every image verifies.

use std::io::{self, Read, Write};

use super::collected::{Collected, LoadReport, Outcome};
use super::compress::{self, Compression, DiffHasher, Meter};
use super::safe_tar::{Kind, classify, is_hex};
use super::{ArchiveError, MAX_JSON_ENTRY, docker_load, oci_load};
use crate::oci::Digest;
use crate::store::{LockMode, Store, StoreError, is_referrer, names_target, set_name};

/// Load every image of the archive read from `input` into `store`, with its names.
/// Nothing becomes visible unless every image in the archive verifies.
pub fn load(store: &dyn Store, input: Box<dyn Read + Send>) -> Result<LoadReport, ArchiveError> {
    let _lock = store.lock(LockMode::Shared)?;
    let decoded = compress::open(input).map_err(ArchiveError::Read)?;
    let (comp, meter) = (decoded.compression, decoded.meter.clone());
    let mut archive = tar::Archive::new(decoded.reader);
    let mut c = Collected::default();
    let mut last: Option<String> = None;
    {
        let entries = archive
            .entries()
            .map_err(|e| read_error("the first header", e, comp, &meter))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| {
                let at = match &last {
                    Some(name) => format!("the header after {name}"),
                    None => "the first header".to_string(),
                };
                read_error(&at, e, comp, &meter)
            })?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let entry_type = entry.header().entry_type();
            if entry_type == tar::EntryType::XGlobalHeader {
                continue;
            }
            if entry_type == tar::EntryType::Symlink
                && let Some(target) = entry.link_name_bytes()
                && let Some((name, target)) = layer_link(&raw, &String::from_utf8_lossy(&target))
            {
                c.entries += 1;
                last = Some(name.clone());
                if c.links.get(&name).is_some_and(|t| *t != target) {
                    return Err(ArchiveError::DuplicateEntry { entry: name });
                }
                c.links.insert(name, target);
                continue;
            }
            let (name, kind) = classify(&raw, entry_type).map_err(|reason| {
                if reason.contains("does not have") {
                    ArchiveError::UnexpectedEntry {
                        entry: raw.clone(),
                        reason: reason.to_string(),
                    }
                } else {
                    ArchiveError::UnsafeEntry {
                        entry: raw.clone(),
                        reason: reason.to_string(),
                    }
                }
            })?;
            c.entries += 1;
            last = Some(name.clone());
            let size = entry.size();
            let rerr = |e| read_error(&name, e, comp, &meter);
            match kind {
                Kind::Dir => {}
                Kind::Ignored => {
                    if size > 1 << 20 {
                        return Err(too_large(&name, size, 1 << 20));
                    }
                    let n = io::copy(&mut entry, &mut io::sink()).map_err(rerr)?;
                    check_len(&name, n, size)?;
                }
                Kind::Json => {
                    let bytes = read_small(&mut entry, &name, size, comp, &meter)?;
                    c.add_json(name, bytes)?;
                }
                Kind::Layer => {
                    // Usually an uncompressed tar; a gzip or zstd one (buildx's docker
                    // exporter) is decoded as it streams, to check its diff_id.
                    let mut head = vec![0u8; size.min(4096) as usize];
                    entry.read_exact(&mut head).map_err(rerr)?;
                    let mut diff = DiffHasher::for_head(&head);
                    if let Some(d) = &mut diff {
                        d.update(&head);
                    }
                    let mut sink = store.blob_writer_unknown()?;
                    sink.write_all(&head)
                        .map_err(|e| StoreError::io("writing", name.clone(), e))?;
                    let n = pump(&mut entry, &mut *sink, diff.as_mut(), &name, comp, &meter)?;
                    check_len(&name, n + head.len() as u64, size)?;
                    let (digest, len, staged) = sink.finish()?;
                    if let Some(d) = diff {
                        c.diffs
                            .insert(digest.clone(), (d.compression(), d.finish()));
                    }
                    c.add_file(name, digest, len, staged)?;
                }
                Kind::Blob(digest) => {
                    // Peek: a JSON document (manifest, config) stays in memory; anything
                    // else (a layer) streams into a staged blob.
                    let mut head = vec![0u8; size.min(4096) as usize];
                    entry.read_exact(&mut head).map_err(rerr)?;
                    let is_json = head
                        .iter()
                        .find(|b| !b.is_ascii_whitespace())
                        .is_some_and(|b| *b == b'{' || *b == b'[');
                    if is_json && size <= MAX_JSON_ENTRY {
                        let mut bytes = head;
                        (&mut entry)
                            .take(MAX_JSON_ENTRY)
                            .read_to_end(&mut bytes)
                            .map_err(rerr)?;
                        check_len(&name, bytes.len() as u64, size)?;
                        check_digest(&name, &digest, &Digest::of(&bytes))?;
                        c.add_json(name, bytes)?;
                    } else {
                        let mut sink = store.blob_writer_unknown()?;
                        sink.write_all(&head)
                            .map_err(|e| StoreError::io("writing", name.clone(), e))?;
                        // A compressed layer is decoded as it streams, to check its diff_id.
                        let mut diff = DiffHasher::for_head(&head);
                        if let Some(d) = &mut diff {
                            d.update(&head);
                        }
                        let n = pump(&mut entry, &mut *sink, diff.as_mut(), &name, comp, &meter)?;
                        check_len(&name, n + head.len() as u64, size)?;
                        let (actual, len, staged) = sink.finish()?;
                        check_digest(&name, &digest, &actual)?;
                        if let Some(d) = diff {
                            c.diffs
                                .insert(actual.clone(), (d.compression(), d.finish()));
                        }
                        c.add_file(name, actual, len, staged)?;
                    }
                }
            }
        }
    }
    // Read to the end of the stream so a damaged or truncated compressed trailer (and
    // its checksum) is noticed too.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink())
        .map_err(|e| read_error("the end of the archive", e, comp, &meter))?;

    if c.entries == 0 {
        return Err(ArchiveError::Empty);
    }
    // An OCI layout wins when both are there (docker ≥ 25 and imagectl's `--format oci`
    // write both): its manifests are kept byte for byte.
    let outcome = if c.json.contains_key("index.json") && c.json.contains_key("oci-layout") {
        oci_load::assemble(&c)?
    } else if c.json.contains_key("manifest.json") {
        docker_load::assemble(&c)?
    } else if c.json.contains_key("index.json") {
        oci_load::assemble(&c)?
    } else {
        return Err(ArchiveError::NotAnArchive(
            "it has neither manifest.json (docker-archive) nor index.json (OCI layout)".into(),
        ));
    };
    commit(store, c, outcome)
}

fn commit(store: &dyn Store, mut c: Collected, mut o: Outcome) -> Result<LoadReport, ArchiveError> {
    super::referrers::without_orphans(store, &mut o)?;
    for d in &o.blobs {
        if let Some(s) = c.staged.remove(d) {
            s.publish()?;
        }
    }
    for (d, bytes) in &o.documents {
        if store.blob_size(d)? != Some(bytes.len() as u64) {
            store.put_blob(d, bytes)?;
        }
    }
    store.update(&mut |entries| {
        for e in &o.entries {
            if is_referrer(e) {
                // Kept once, whatever else the store holds.
                if !entries
                    .iter()
                    .any(|x| is_referrer(x) && x.target.digest == e.target.digest)
                {
                    entries.push(e.clone());
                }
                continue;
            }
            if e.is_dangling() && names_target(entries, &e.target.digest) {
                continue;
            }
            if e.name.is_none() && !e.is_dangling() {
                // A foreign name: replace an entry with the same foreign name.
                entries.retain(|x| !(x.name.is_none() && x.foreign_name() == e.foreign_name()));
                entries.retain(|x| !(x.is_dangling() && x.target.digest == e.target.digest));
                entries.push(e.clone());
                continue;
            }
            set_name(entries, e.clone());
        }
        Ok(())
    })?;
    Ok(LoadReport {
        images: o.loaded,
        referrers: o.referrers,
    })
}

/// A layer link `<hex>/layer.tar` → `../<other hex>/layer.tar` (docker 20.10, for a layer
/// it already wrote under another legacy ID) or → `../<hex>.tar` (skopeo and podman, whose
/// layers live at `<diff_id>.tar`): the entry name and the name of the entry it points at.
/// Every other link is refused by `classify`.
fn layer_link(name: &str, target: &str) -> Option<(String, String)> {
    let name = name.strip_prefix("./").unwrap_or(name);
    let hex = name.strip_suffix("/layer.tar").filter(|h| is_hex(h))?;
    let rest = target.strip_prefix("../")?;
    if let Some(other) = rest.strip_suffix("/layer.tar")
        && is_hex(other)
        && other != hex
    {
        return Some((name.to_string(), rest.to_string()));
    }
    let other = rest.strip_suffix(".tar").filter(|h| is_hex(h))?;
    Some((name.to_string(), format!("{other}.tar")))
}

fn too_large(name: &str, size: u64, max: u64) -> ArchiveError {
    ArchiveError::TooLarge {
        entry: name.to_string(),
        size,
        max,
    }
}

fn check_len(name: &str, n: u64, size: u64) -> Result<(), ArchiveError> {
    if n < size {
        return Err(ArchiveError::Truncated {
            entry: name.to_string(),
        });
    }
    Ok(())
}

fn check_digest(name: &str, expected: &Digest, actual: &Digest) -> Result<(), ArchiveError> {
    if expected != actual {
        return Err(ArchiveError::Mismatch {
            entry: name.to_string(),
            what: "digest",
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

fn read_small(
    entry: &mut impl Read,
    name: &str,
    size: u64,
    comp: Compression,
    meter: &Meter,
) -> Result<Vec<u8>, ArchiveError> {
    if size > MAX_JSON_ENTRY {
        return Err(too_large(name, size, MAX_JSON_ENTRY));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    entry
        .take(MAX_JSON_ENTRY)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(name, e, comp, meter))?;
    check_len(name, bytes.len() as u64, size)?;
    Ok(bytes)
}

/// Copy an entry into a store sink, telling read failures (the archive's) from write
/// failures (the store's).
fn pump(
    entry: &mut impl Read,
    sink: &mut dyn Write,
    mut tap: Option<&mut DiffHasher>,
    name: &str,
    comp: Compression,
    meter: &Meter,
) -> Result<u64, ArchiveError> {
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = match entry.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(name, e, comp, meter)),
        };
        sink.write_all(&buf[..k])
            .map_err(|e| StoreError::io("writing", name.to_string(), e))?;
        if let Some(t) = tap.as_deref_mut() {
            t.update(&buf[..k]);
        }
        n += k as u64;
    }
}

fn read_error(entry: &str, e: io::Error, comp: Compression, meter: &Meter) -> ArchiveError {
    let entry = entry.to_string();
    if meter.bombed() {
        return ArchiveError::Bomb {
            entry,
            input: meter.input(),
            output: meter.output(),
        };
    }
    // The tar reader says "failed to read entire block" for a header cut short.
    if e.kind() == io::ErrorKind::UnexpectedEof || e.to_string().contains("entire block") {
        return ArchiveError::Truncated { entry };
    }
    if comp != Compression::None && meter.decode_failed() {
        return ArchiveError::Compression {
            entry,
            format: comp.name(),
            reason: e.to_string(),
        };
    }
    // The tar reader's messages quote the header's bytes (`numeric field was not a number:
    // <bytes> when getting cksum for <name>`): for a file given by mistake, a secret one
    // say, that would print its contents. Say what was expected instead.
    if matches!(e.kind(), io::ErrorKind::InvalidData | io::ErrorKind::Other) {
        return ArchiveError::NotAnArchive(format!(
            "{entry} is not a valid tar header; expected the output of `docker save`, `podman save`, `skopeo copy … oci-archive:` or `imagectl save` (plain, gzip, zstd, xz or bzip2)"
        ));
    }
    ArchiveError::NotAnArchive(format!("{entry}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::layout::LayoutStore;
    use crate::store::{BlobGc, Catalog};

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// A one-layer docker-archive with its entries in the reverse of `docker save`'s order.
    fn reversed_docker_archive(diff_id_ok: bool) -> Vec<u8> {
        let layer = tar_of(&[("hello.txt", b"hello\n")]);
        let diff = if diff_id_ok {
            Digest::of(&layer)
        } else {
            Digest::of(b"other")
        };
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff}"]}}}}"#
        );
        let config_name = format!("{}.json", Digest::of(config.as_bytes()).hex());
        let layer_name = format!("{}/layer.tar", Digest::of(&layer).hex());
        let manifest = format!(
            r#"[{{"Config":"{config_name}","RepoTags":["demo/rev:1"],"Layers":["{layer_name}"]}}]"#
        );
        tar_of(&[
            ("manifest.json", manifest.as_bytes()),
            (&config_name, config.as_bytes()),
            (&layer_name, &layer),
        ])
    }

    #[test]
    fn entries_in_any_order_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = LayoutStore::open(dir.path().join("s")).unwrap();
        let loaded = load(
            &store,
            Box::new(io::Cursor::new(reversed_docker_archive(true))),
        )
        .unwrap()
        .images;
        assert_eq!(loaded.len(), 1);
        assert_eq!(
            loaded[0].name.as_ref().unwrap().familiar(),
            "demo/rev:1".to_string()
        );
        assert_eq!(store.entries().unwrap().len(), 1);
        assert_eq!(store.list_blobs().unwrap().len(), 3);
    }

    #[test]
    fn a_refused_archive_leaves_the_store_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let store = LayoutStore::open(dir.path().join("s")).unwrap();
        let err = load(
            &store,
            Box::new(io::Cursor::new(reversed_docker_archive(false))),
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::DiffIdMismatch { .. }), "{err}");
        assert!(store.entries().unwrap().is_empty());
        assert!(store.list_blobs().unwrap().is_empty());
    }

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn only_layer_links_inside_the_archive() {
        let name = format!("{A}/layer.tar");
        assert_eq!(
            layer_link(&name, &format!("../{B}/layer.tar")),
            Some((name.clone(), format!("{B}/layer.tar")))
        );
        assert_eq!(
            layer_link(&name, &format!("../{B}.tar")),
            Some((name.clone(), format!("{B}.tar")))
        );
        for bad in [
            format!("../{A}/layer.tar"),
            format!("/{B}/layer.tar"),
            format!("../../{B}/layer.tar"),
            "../../../../etc/hostname".to_string(),
            format!("{B}/layer.tar"),
            format!("../{B}/json"),
        ] {
            assert_eq!(layer_link(&name, &bad), None, "{bad}");
        }
        assert_eq!(layer_link("manifest.json", &format!("../{B}.tar")), None);
    }
}
