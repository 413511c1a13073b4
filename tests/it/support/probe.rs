//! What an embedded store holds, read through imagectl's own library (the layout store's
//! catalogue and blob listing), never by opening `index.json` or `blobs/` in the test: the
//! same questions then keep their meaning if the layout's files change.
//!
//! ```ignore
//! let probe = sc.probe();
//! assert!(probe.has(&sc.reference("demo/app:1.0")));
//! assert_eq!(probe.blob_count(), 4);
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use imagectl::oci::Digest;
use imagectl::store::layout::LayoutStore;
use imagectl::store::{BlobGc as _, BlobRead as _, Catalog as _};

/// One catalogue entry: its name (None: dangling) and the manifest or index it names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProbeImage {
    pub name: Option<String>,
    pub digest: String,
}

/// A read-only view of the embedded store at one path (which need not exist yet: then it
/// is empty).
pub struct StoreProbe {
    path: PathBuf,
}

impl StoreProbe {
    pub fn new(path: &Path) -> StoreProbe {
        StoreProbe {
            path: path.to_path_buf(),
        }
    }

    fn open(&self) -> LayoutStore {
        LayoutStore::open(&self.path)
            .unwrap_or_else(|e| panic!("open store {}: {e}", self.path.display()))
    }

    /// Every catalogue entry, in store order.
    pub fn images(&self) -> Vec<ProbeImage> {
        self.open()
            .entries()
            .unwrap_or_else(|e| panic!("read catalogue of {}: {e}", self.path.display()))
            .into_iter()
            .map(|e| ProbeImage {
                name: e.name.map(|n| n.to_string()),
                digest: e.target.digest.to_string(),
            })
            .collect()
    }

    /// Every name (full references, `127.0.0.1:PORT/demo/app:1.0`), sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.images().into_iter().filter_map(|i| i.name).collect();
        v.sort();
        v
    }

    /// Whether the store has an image of this name (a full reference).
    pub fn has(&self, name: &str) -> bool {
        self.images()
            .iter()
            .any(|i| i.name.as_deref() == Some(name))
    }

    /// The manifest or index digest the name points at.
    pub fn digest_of(&self, name: &str) -> Option<String> {
        self.images()
            .into_iter()
            .find(|i| i.name.as_deref() == Some(name))
            .map(|i| i.digest)
    }

    /// Whether the blob is present.
    pub fn has_blob(&self, digest: &str) -> bool {
        let digest: Digest = digest.parse().expect("a digest");
        self.open()
            .blob_size(&digest)
            .unwrap_or_else(|e| panic!("blob {digest}: {e}"))
            .is_some()
    }

    /// Every blob present with its size, by digest.
    pub fn blobs(&self) -> Vec<(String, u64)> {
        self.open()
            .list_blobs()
            .unwrap_or_else(|e| panic!("list blobs of {}: {e}", self.path.display()))
            .into_iter()
            .map(|(d, n)| (d.to_string(), n))
            .collect()
    }

    /// The digests of every blob present.
    pub fn blob_digests(&self) -> BTreeSet<String> {
        self.blobs().into_iter().map(|(d, _)| d).collect()
    }

    pub fn blob_count(&self) -> usize {
        self.blobs().len()
    }

    /// Bytes of every blob present.
    pub fn blob_bytes(&self) -> u64 {
        self.blobs().iter().map(|(_, n)| n).sum()
    }

    /// Bytes that writers which are gone left behind (what `prune` reclaims besides blobs).
    pub fn leftover_bytes(&self) -> u64 {
        self.open()
            .leftovers()
            .unwrap_or_else(|e| panic!("leftovers of {}: {e}", self.path.display()))
    }
}
