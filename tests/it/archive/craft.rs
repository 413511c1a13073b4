//! Archives built entry by entry, so a test can write what no well-behaved writer would:
//! names with `..` or a leading `/`, links, devices, duplicate names, lying sizes.
//!
//! Headers are filled in by hand where the tar crate refuses (`Header::set_path` rejects
//! `..` and absolute paths): the name goes straight into the old-style 100-byte field.

use std::io::{Read as _, Write as _};

use serde_json::json;

use crate::support::fixtures::{FixtureImage, OCI_INDEX, REF_NAME, hex_of};

/// One tar entry as it will be written.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub kind: tar::EntryType,
    pub data: Vec<u8>,
    /// Link target of a symlink or hardlink.
    pub link: Option<String>,
    /// Device major/minor of a character or block device.
    pub device: Option<(u32, u32)>,
}

impl Entry {
    pub fn file(name: &str, data: impl Into<Vec<u8>>) -> Entry {
        Entry {
            name: name.to_string(),
            kind: tar::EntryType::Regular,
            data: data.into(),
            link: None,
            device: None,
        }
    }

    pub fn dir(name: &str) -> Entry {
        Entry {
            kind: tar::EntryType::Directory,
            ..Entry::file(name, Vec::new())
        }
    }

    pub fn symlink(name: &str, target: &str) -> Entry {
        Entry {
            kind: tar::EntryType::Symlink,
            link: Some(target.to_string()),
            ..Entry::file(name, Vec::new())
        }
    }

    pub fn hardlink(name: &str, target: &str) -> Entry {
        Entry {
            kind: tar::EntryType::Link,
            link: Some(target.to_string()),
            ..Entry::file(name, Vec::new())
        }
    }

    pub fn char_device(name: &str, major: u32, minor: u32) -> Entry {
        Entry {
            kind: tar::EntryType::Char,
            device: Some((major, minor)),
            ..Entry::file(name, Vec::new())
        }
    }
}

/// A ustar header with `name` and `link` written byte for byte (each < 100 bytes).
fn header(e: &Entry) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(e.kind);
    h.set_mode(if e.kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_size(e.data.len() as u64);
    h.set_mtime(1_704_067_200);
    h.set_uid(0);
    h.set_gid(0);
    {
        let old = h.as_old_mut();
        assert!(e.name.len() < 100, "name too long for the raw header");
        old.name = [0; 100];
        old.name[..e.name.len()].copy_from_slice(e.name.as_bytes());
        if let Some(link) = &e.link {
            assert!(link.len() < 100, "link too long for the raw header");
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
    }
    if let Some((major, minor)) = e.device {
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
    }
    h.set_cksum();
    h
}

/// The tar of `entries`, in order, closed with the two zero blocks.
pub fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        b.append(&header(e), e.data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

pub fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Undoes gzip or zstd (by magic number); anything else is returned as is.
pub fn decompress(data: &[u8]) -> Vec<u8> {
    if data.starts_with(&[0x1f, 0x8b]) {
        gunzip(data)
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::decode_all(data).unwrap()
    } else if data.starts_with(b"\xfd7zXZ\0") {
        through("xz", &["-dc"], data)
    } else if data.starts_with(b"BZh") {
        through("bzip2", &["-dc"], data)
    } else {
        data.to_vec()
    }
}

/// `data` piped through a system tool (xz, bzip2): an independent codec.
pub fn through(tool: &str, args: &[&str], data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = crate::support::tools::tool(tool)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{tool} {args:?} failed");
    out.stdout
}

/// Every entry of a (possibly compressed) archive: (name, kind, content).
pub fn list(archive: &[u8]) -> Vec<(String, tar::EntryType, Vec<u8>)> {
    let plain = decompress(archive);
    let mut ar = tar::Archive::new(plain.as_slice());
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let kind = e.header().entry_type();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((name, kind, data));
    }
    out
}

/// The entries of the docker-archive (`docker save` layout) of `image` tagged `tags`:
/// `<config-hex>.json`, `<diff-id-hex>/layer.tar` (uncompressed), `manifest.json`.
pub fn docker_archive(image: &FixtureImage, tags: &[&str]) -> Vec<Entry> {
    let config_name = format!("{}.json", hex_of(&image.config_digest));
    let mut entries = vec![Entry::file(&config_name, image.config.clone())];
    let mut layer_names = Vec::new();
    for layer in &image.layers {
        let dir = hex_of(&layer.diff_id).to_string();
        let name = format!("{dir}/layer.tar");
        entries.push(Entry::dir(&format!("{dir}/")));
        entries.push(Entry::file(&name, gunzip(&layer.blob)));
        layer_names.push(name);
    }
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": tags,
        "Layers": layer_names,
    }]);
    entries.push(Entry::file(
        "manifest.json",
        serde_json::to_vec(&manifest).unwrap(),
    ));
    entries
}

/// The entries of an OCI archive (an OCI image layout in a tar) holding `image` as `ref_name`.
pub fn oci_archive(image: &FixtureImage, ref_name: &str) -> Vec<Entry> {
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": image.manifest_media_type,
            "digest": image.manifest_digest,
            "size": image.manifest_size,
            "annotations": { REF_NAME: ref_name },
        }],
    });
    let mut entries = vec![
        Entry::file("oci-layout", &br#"{"imageLayoutVersion":"1.0.0"}"#[..]),
        Entry::file("index.json", serde_json::to_vec(&index).unwrap()),
        Entry::dir("blobs/"),
        Entry::dir("blobs/sha256/"),
    ];
    let mut blobs = vec![(image.manifest_digest.clone(), image.manifest.clone())];
    blobs.extend(image.blobs().into_iter().map(|(d, b)| (d, b.to_vec())));
    for (digest, data) in blobs {
        entries.push(Entry::file(
            &format!("blobs/sha256/{}", hex_of(&digest)),
            data,
        ));
    }
    entries
}

/// Index of the entry named `name`.
pub fn position(entries: &[Entry], name: &str) -> usize {
    entries
        .iter()
        .position(|e| e.name == name)
        .unwrap_or_else(|| panic!("no entry {name}"))
}

/// Byte offset of the header of entry `index` in `tar(entries)`.
pub fn header_offset(entries: &[Entry], index: usize) -> usize {
    entries[..index]
        .iter()
        .map(|e| 512 + e.data.len().div_ceil(512) * 512)
        .sum()
}
