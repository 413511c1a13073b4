//! Reads tar streams (files, pipes) entry by entry, refusing every entry a docker or OCI
//! archive cannot contain: links, devices, absolute paths, `..`, names outside the format.

use tar::EntryType;

use crate::oci::Digest;

/// What an entry name is in a docker-archive or OCI layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory (`<hex>/`, `blobs/`, `blobs/sha256/`): carries nothing.
    Dir,
    /// A small JSON document kept in memory (`manifest.json`, `index.json`,
    /// `oci-layout`, `repositories`, `<hex>.json`).
    Json,
    /// Docker's per-layer `VERSION` and `json` files: read (bounded) and dropped.
    Ignored,
    /// A docker-archive layer (`<hex>/layer.tar`, `<hex>.tar`): its digest is learned by hashing.
    Layer,
    /// `blobs/sha256/<hex>`: content named by its digest.
    Blob(Digest),
}

/// A validated entry name (without a leading `./`, without a trailing `/`).
pub fn classify(raw: &str, entry_type: EntryType) -> Result<(String, Kind), &'static str> {
    match entry_type {
        EntryType::Regular | EntryType::Continuous | EntryType::Directory => {}
        EntryType::Symlink => return Err("symbolic links are not allowed in an image archive"),
        EntryType::Link => return Err("hard links are not allowed in an image archive"),
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            return Err("device and fifo entries are not allowed in an image archive");
        }
        _ => return Err("this entry type is not allowed in an image archive"),
    }
    if raw.starts_with('/') {
        return Err("absolute paths are not allowed");
    }
    if raw.contains('\\') || raw.contains('\0') {
        return Err("backslashes and NUL bytes are not allowed in names");
    }
    let trimmed = raw.strip_prefix("./").unwrap_or(raw).trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').collect();
    if parts.contains(&"..") {
        return Err("`..` is not allowed in names");
    }
    if trimmed.is_empty() || trimmed == "." {
        return if entry_type == EntryType::Directory {
            Ok((String::new(), Kind::Dir))
        } else {
            Err("an empty name is not allowed")
        };
    }
    if parts.iter().any(|p| p.is_empty() || *p == ".") {
        return Err("empty or `.` path components are not allowed");
    }
    let name = trimmed.to_string();
    let is_dir = entry_type == EntryType::Directory;
    let kind = match parts.as_slice() {
        [d] if is_dir && (is_hex(d) || *d == "blobs") => Kind::Dir,
        ["blobs", "sha256"] if is_dir => Kind::Dir,
        _ if is_dir => return Err("a directory the archive format does not have"),
        ["manifest.json" | "index.json" | "oci-layout" | "repositories"] => Kind::Json,
        [f] if f.strip_suffix(".json").is_some_and(is_hex) => Kind::Json,
        [f] if f.strip_suffix(".tar").is_some_and(is_hex) => Kind::Layer,
        [d, "layer.tar"] if is_hex(d) => Kind::Layer,
        [d, "VERSION" | "json"] if is_hex(d) => Kind::Ignored,
        ["blobs", "sha256", h] if is_hex(h) => Kind::Blob(
            format!("sha256:{h}")
                .parse()
                .map_err(|_| "not a sha256 digest")?,
        ),
        _ => return Err("a name the archive format does not have"),
    };
    Ok((name, kind))
}

/// 64 lowercase hex digits.
pub fn is_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn accepts_the_formats_names() {
        let ok = |n: &str, t| classify(n, t).unwrap().1;
        assert_eq!(ok("manifest.json", EntryType::Regular), Kind::Json);
        assert_eq!(ok("./index.json", EntryType::Regular), Kind::Json);
        assert_eq!(ok(&format!("{H}.json"), EntryType::Regular), Kind::Json);
        assert_eq!(
            ok(&format!("{H}/layer.tar"), EntryType::Regular),
            Kind::Layer
        );
        assert_eq!(ok(&format!("{H}.tar"), EntryType::Regular), Kind::Layer);
        assert_eq!(
            ok(&format!("{H}/VERSION"), EntryType::Regular),
            Kind::Ignored
        );
        assert_eq!(ok(&format!("{H}/"), EntryType::Directory), Kind::Dir);
        assert_eq!(ok("blobs/sha256/", EntryType::Directory), Kind::Dir);
        assert!(matches!(
            ok(&format!("blobs/sha256/{H}"), EntryType::Regular),
            Kind::Blob(_)
        ));
        assert_eq!(classify("./", EntryType::Directory).unwrap().1, Kind::Dir);
    }

    #[test]
    fn refuses_everything_else() {
        for (name, t) in [
            ("/etc/passwd", EntryType::Regular),
            ("../manifest.json", EntryType::Regular),
            (&format!("{H}/../../x") as &str, EntryType::Regular),
            ("manifest.json", EntryType::Symlink),
            ("manifest.json", EntryType::Link),
            ("manifest.json", EntryType::Char),
            ("etc/passwd", EntryType::Regular),
            ("blobs/sha512/abc", EntryType::Regular),
            (
                &format!("blobs/sha256/{}", H.to_uppercase()) as &str,
                EntryType::Regular,
            ),
            ("", EntryType::Regular),
            ("a//b", EntryType::Regular),
            ("tmp", EntryType::Directory),
        ] {
            assert!(classify(name, t).is_err(), "{name} {t:?}");
        }
    }
}
