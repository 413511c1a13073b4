//! What `rmi QUERY` removes, decided the way docker decides it, for every backend that
//! keeps its own name records (the embedded layout, containerd).

use super::{Inventory, InventoryImage, RemoveEvent, Resolved, StoreError, resolve};
use crate::oci::{Digest, Reference};

/// What one `rmi` query removes.
pub struct Removal {
    /// The images (manifest or index digests) it touches.
    pub targets: Vec<Digest>,
    /// The names it removes, as stored.
    pub names: Vec<String>,
    /// The image ID deleted with its last name, if it is.
    pub deleted: Option<Digest>,
}

fn all_names(images: &[&InventoryImage]) -> Vec<String> {
    images
        .iter()
        .flat_map(|i| {
            i.names
                .iter()
                .map(|n| n.to_string())
                .chain(i.foreign_names.iter().cloned())
        })
        .collect()
}

impl Removal {
    /// What `rmi` prints for it: each name untagged, then the image deleted, if it was.
    pub fn events(self) -> Vec<RemoveEvent> {
        let mut events: Vec<RemoveEvent> =
            self.names.into_iter().map(RemoveEvent::Untagged).collect();
        if let Some(id) = self.deleted {
            events.push(RemoveEvent::Deleted(id.to_string()));
        }
        events
    }
}

/// Decide what `query` removes: one of an image's names untags that name only (and
/// deletes the image if it was the last); an ID or a `repo@digest` naming the image by
/// content means every name, which needs `force` when there are several.
pub fn plan_removal(
    inventory: &Inventory,
    query: &str,
    force: bool,
) -> Result<Removal, StoreError> {
    let parsed = Reference::parse(query).ok();
    let images = match resolve(inventory, query)? {
        Resolved::Name(image)
            if parsed.as_ref().is_some_and(|p| image.names.contains(p))
                || image.foreign_names.iter().any(|n| n == query) =>
        {
            let name = parsed
                .filter(|p| image.names.contains(p))
                .map(|p| p.to_string())
                .unwrap_or_else(|| query.to_string());
            let last = image.names.len() + image.foreign_names.len() <= 1;
            return Ok(Removal {
                targets: vec![image.target.digest.clone()],
                names: vec![name],
                deleted: last.then(|| image.id.clone()),
            });
        }
        Resolved::Name(image) => vec![image],
        Resolved::Id(images) => images,
    };
    let names = all_names(&images);
    if names.len() > 1 && !force {
        return Err(StoreError::MultipleNames {
            id: images[0].id.short().to_string(),
            names: names.join(", "),
        });
    }
    Ok(Removal {
        targets: images.iter().map(|i| i.target.digest.clone()).collect(),
        names,
        deleted: Some(images[0].id.clone()),
    })
}
