//! What removing images frees, counted per blob: a blob is freed only when the last image
//! that needs it goes, so a layer an image that stays still uses frees nothing and a layer
//! two removed images share frees its bytes once. The ordinary removals and the disk
//! budget's evictions both count through this, so the plan's figures add up to what the
//! executor's garbage collection then deletes.

use std::collections::BTreeMap;

use super::model::ActualImage;
use crate::oci::Digest;

/// How many of the images still counted need each blob, with the blob's size.
pub(super) struct BlobUsers<'a> {
    users: BTreeMap<&'a Digest, (usize, u64)>,
}

impl<'a> BlobUsers<'a> {
    /// The users of every blob of `images`.
    pub(super) fn new(images: impl IntoIterator<Item = &'a ActualImage>) -> Self {
        let mut users: BTreeMap<&Digest, (usize, u64)> = BTreeMap::new();
        for img in images {
            for (digest, size) in &img.blobs {
                users.entry(digest).or_insert((0, *size)).0 += 1;
            }
        }
        BlobUsers { users }
    }

    /// Bytes of the blobs some counted image needs, each once.
    pub(super) fn bytes(&self) -> u64 {
        self.users
            .values()
            .filter(|(n, _)| *n > 0)
            .map(|(_, size)| size)
            .sum()
    }

    /// Stop counting `image` as a user; the bytes of the blobs nothing counted needs any
    /// more. Callers release each image once: a second release would take another image's
    /// count.
    pub(super) fn release(&mut self, image: &ActualImage) -> u64 {
        let mut freed = 0;
        for (digest, _) in &image.blobs {
            if let Some(e) = self.users.get_mut(digest)
                && e.0 > 0
            {
                e.0 -= 1;
                if e.0 == 0 {
                    freed += e.1;
                }
            }
        }
        freed
    }
}
