//! Tag: give an image in the store another name.

use super::ExecError;
use crate::oci::Reference;
use crate::store::{CatalogEntry, Inventory, LockMode, Store, resolve_image, set_name};

/// Name the image `source` refers to `target` as well. Returns the image's ID.
pub fn tag_image(store: &dyn Store, source: &str, target: &Reference) -> Result<String, ExecError> {
    if target.digest().is_some() {
        return Err(ExecError::TagWithDigest(target.to_string()));
    }
    let _lock = store.lock(LockMode::Shared)?;
    let inventory = Inventory::load(store)?;
    let image = resolve_image(&inventory, source)?;
    let entry = CatalogEntry::new(Some(target.clone()), image.target.clone(), None);
    store.update(&mut |entries| {
        set_name(entries, entry.clone());
        Ok(())
    })?;
    Ok(image.id.to_string())
}
