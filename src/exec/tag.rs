//! Tag: give an image in the store another name.

use super::ExecError;
use crate::oci::Reference;
use crate::store::{ImageStore, LockMode, resolve_image};

/// Name the image `source` refers to `target` as well. Returns the image's ID.
pub async fn tag_image(
    store: &dyn ImageStore,
    source: &str,
    target: &Reference,
) -> Result<String, ExecError> {
    if target.digest().is_some() {
        return Err(ExecError::TagWithDigest(target.to_string()));
    }
    let _lock = store.lock(LockMode::Shared).await?;
    let inventory = store.inventory().await?;
    let image = resolve_image(&inventory, source)?;
    store.set_name(target, image).await?;
    Ok(image.id.to_string())
}
