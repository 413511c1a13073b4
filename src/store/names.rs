//! Pure edits of the catalogue shared by pull, tag, remove and load.

use super::CatalogEntry;
use crate::oci::Digest;

/// Point `new.name` at `new.target`. The image the name pointed at before stays in the
/// store as an untagged (dangling) image when nothing else names it, as docker keeps a
/// replaced image as `<none>:<none>` until it is pruned.
pub fn set_name(entries: &mut Vec<CatalogEntry>, new: CatalogEntry) {
    if let Some(pos) = entries
        .iter()
        .position(|e| e.name.is_some() && e.name == new.name)
    {
        let old = entries.remove(pos);
        if old.target.digest != new.target.digest && !names_target(entries, &old.target.digest) {
            entries.insert(pos, CatalogEntry { name: None, ..old });
        }
    }
    entries.retain(|e| !(e.is_dangling() && e.target.digest == new.target.digest));
    entries.push(new);
}

/// Whether any entry (named or dangling) points at `digest`.
pub fn names_target(entries: &[CatalogEntry], digest: &Digest) -> bool {
    entries.iter().any(|e| &e.target.digest == digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::{Descriptor, Reference};

    fn entry(name: Option<&str>, digest_byte: u8) -> CatalogEntry {
        let digest: Digest = format!("sha256:{}", format!("{digest_byte:02x}").repeat(32))
            .parse()
            .unwrap();
        CatalogEntry::new(
            name.map(|n| Reference::parse(n).unwrap()),
            Descriptor {
                media_type: crate::oci::media::OCI_MANIFEST.into(),
                digest,
                size: 1,
                platform: None,
            },
            None,
        )
    }

    #[test]
    fn replaced_image_becomes_dangling_once() {
        let mut entries = vec![entry(Some("a:1"), 1)];
        set_name(&mut entries, entry(Some("a:1"), 2));
        assert_eq!(entries.len(), 2);
        assert!(entries[0].is_dangling());
        assert_eq!(entries[1].target.digest, entry(None, 2).target.digest);
        // Re-tagging the dangling image removes its dangling entry.
        set_name(&mut entries, entry(Some("a:1"), 1));
        assert_eq!(entries.len(), 2);
        assert_eq!(entries.iter().filter(|e| e.is_dangling()).count(), 1);
    }

    #[test]
    fn still_named_image_is_not_dangling() {
        let mut entries = vec![entry(Some("a:1"), 1), entry(Some("b:1"), 1)];
        set_name(&mut entries, entry(Some("a:1"), 2));
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|e| !e.is_dangling()));
    }

    #[test]
    fn same_target_is_a_noop_in_content() {
        let mut entries = vec![entry(Some("a:1"), 1)];
        set_name(&mut entries, entry(Some("a:1"), 1));
        assert_eq!(entries.len(), 1);
        assert!(!entries[0].is_dangling());
    }
}
