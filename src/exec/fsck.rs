//! fsck: re-hash every blob and check that every image is complete.

use std::io::Read;

use super::ExecError;
use crate::oci::{Digest, Sha256Writer};
use crate::store::{Inventory, Store};

/// What fsck found.
#[derive(Debug, Default)]
pub struct FsckReport {
    /// Blobs re-hashed.
    pub blobs: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Images checked.
    pub images: usize,
    /// Kept referrers checked.
    pub referrers: usize,
    /// Everything wrong, one line each.
    pub problems: Vec<String>,
}

/// Verify the whole store. Reads only; a damaged store is reported, not repaired.
pub fn fsck(store: &dyn Store) -> Result<FsckReport, ExecError> {
    let mut report = FsckReport::default();
    for (digest, size) in store.list_blobs()? {
        report.blobs += 1;
        report.bytes += size;
        match hash_blob(store, &digest) {
            Ok(actual) if actual == digest => {}
            Ok(actual) => report
                .problems
                .push(format!("blob {digest}: content hashes to {actual}")),
            Err(e) => report.problems.push(format!("blob {digest}: {e}")),
        }
    }
    let inventory = Inventory::load(store)?;
    for image in &inventory.images {
        report.images += 1;
        let label = image
            .names
            .first()
            .map(|n| n.to_string())
            .or_else(|| image.foreign_names.first().cloned())
            .unwrap_or_else(|| format!("<none> ({})", image.id.short()));
        for d in &image.damage {
            report.problems.push(format!("image {label}: {d}"));
        }
    }
    for r in &inventory.referrers {
        report.referrers += 1;
        let subject = subject_label(&inventory, &r.subject);
        for d in &r.damage {
            report
                .problems
                .push(format!("referrer {} of {subject}: {d}", r.target.digest));
        }
    }
    Ok(report)
}

/// A referrer's subject as an operator finds it: the image (by name) whose manifest, index
/// or platform manifest it is, or the referrer it signs.
fn subject_label(inventory: &Inventory, subject: &Digest) -> String {
    let image = inventory
        .images
        .iter()
        .find(|i| &i.target.digest == subject || i.blobs.contains_key(subject));
    match image {
        Some(i) => {
            let name = i
                .names
                .first()
                .map(|n| n.to_string())
                .or_else(|| i.foreign_names.first().cloned())
                .unwrap_or_else(|| "<none>".to_string());
            format!("{subject} (image {name})")
        }
        None => format!("{subject} (a referrer)"),
    }
}

fn hash_blob(store: &dyn Store, digest: &Digest) -> Result<Digest, ExecError> {
    let mut reader = store.open_blob(digest)?;
    let mut hasher = Sha256Writer::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| crate::store::StoreError::io("reading", digest.to_string(), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish())
}
