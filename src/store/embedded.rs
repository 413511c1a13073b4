//! The embedded store behind the seam: the OCI layout's catalogue and blobs, edited under
//! its file lock. Its work is local file I/O, run on the blocking pool so no store call
//! holds up a runtime thread.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use super::image_store::{
    ArchiveCodec, Backend, ImageExport, ImageImport, ImageStore, RemoveEvent,
};
use super::layout::LayoutStore;
use super::removal::plan_removal;
use super::{
    CatalogEntry, Inventory, InventoryImage, LockGuard, LockMode, Store, StoreError, set_name,
};
use crate::oci::{Digest, Reference};

/// An OCI image layout on this host, as an [`ImageStore`].
pub struct EmbeddedStore {
    layout: Arc<LayoutStore>,
}

impl EmbeddedStore {
    /// Wrap an opened layout.
    pub fn new(layout: LayoutStore) -> Self {
        Self {
            layout: Arc::new(layout),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&LayoutStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let layout = self.layout.clone();
        tokio::task::spawn_blocking(move || f(&layout))
            .await
            .expect("store task panicked")
    }
}

#[async_trait]
impl ImageStore for EmbeddedStore {
    fn location(&self) -> String {
        Store::location(&*self.layout)
    }

    fn backend(&self) -> Backend {
        Backend::Embedded
    }

    fn state_dir(&self) -> std::path::PathBuf {
        self.layout.private_dir()
    }

    async fn inventory(&self) -> Result<Inventory, StoreError> {
        self.blocking(Inventory::load).await
    }

    async fn lock(&self, mode: LockMode) -> Result<LockGuard, StoreError> {
        self.blocking(move |s| super::StoreLock::lock(s, mode))
            .await
    }

    async fn set_name(&self, name: &Reference, image: &InventoryImage) -> Result<(), StoreError> {
        let entry = CatalogEntry::new(Some(name.clone()), image.target.clone(), None);
        self.blocking(move |s| {
            super::Catalog::update(s, &mut |entries| {
                set_name(entries, entry.clone());
                Ok(())
            })
        })
        .await
    }

    async fn remove_name(&self, name: &Reference) -> Result<(), StoreError> {
        let name = name.clone();
        self.blocking(move |s| {
            super::Catalog::update(s, &mut |entries| {
                entries.retain(|e| e.name.as_ref() != Some(&name));
                Ok(())
            })
        })
        .await
    }

    async fn remove_image(
        &self,
        image: &InventoryImage,
        _force: bool,
    ) -> Result<Vec<RemoveEvent>, StoreError> {
        let target = image.target.digest.clone();
        let mut events: Vec<RemoveEvent> = image
            .names
            .iter()
            .map(|n| RemoveEvent::Untagged(n.to_string()))
            .chain(
                image
                    .foreign_names
                    .iter()
                    .cloned()
                    .map(RemoveEvent::Untagged),
            )
            .collect();
        events.push(RemoveEvent::Deleted(image.id.to_string()));
        self.blocking(move |s| {
            super::Catalog::update(s, &mut |entries| {
                entries.retain(|e| e.target.digest != target);
                Ok(())
            })
        })
        .await?;
        Ok(events)
    }

    async fn remove(&self, query: &str, force: bool) -> Result<Vec<RemoveEvent>, StoreError> {
        let query = query.to_string();
        self.blocking(move |s| remove_query(s, &query, force)).await
    }

    async fn leftovers(&self) -> Result<u64, StoreError> {
        self.blocking(|s| s.leftovers()).await
    }

    async fn collect_garbage(&self, temporary: bool) -> Result<u64, StoreError> {
        self.blocking(move |s| {
            let inventory = Inventory::load(s)?;
            // Referrers of an image removed since go with it, entries and blobs.
            super::drop_orphans(s, &inventory.referrers)?;
            let referenced = inventory.referenced_blobs();
            let mut freed = 0;
            for (digest, size) in super::BlobGc::list_blobs(s)? {
                if !referenced.contains(&digest) {
                    super::BlobGc::delete_blob(s, &digest)?;
                    freed += size;
                }
            }
            if temporary {
                freed += s.clean_temporary()?;
            }
            Ok(freed)
        })
        .await
    }

    async fn content_sizes(
        &self,
        _inventory: &Inventory,
    ) -> Result<Vec<(Digest, u64)>, StoreError> {
        self.blocking(super::BlobGc::list_blobs).await
    }

    async fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.layout.read_state(name)
    }

    async fn write_state(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.layout.write_state(name, bytes)
    }

    fn content(&self) -> Option<Arc<dyn Store>> {
        Some(self.layout.clone())
    }

    async fn import(
        &self,
        _codec: Arc<dyn ArchiveCodec>,
    ) -> Result<Box<dyn ImageImport>, StoreError> {
        Ok(Box::new(InPlace(self.layout.clone())))
    }

    async fn export(
        &self,
        _images: &[&InventoryImage],
        _codec: Arc<dyn ArchiveCodec>,
    ) -> Result<Box<dyn ImageExport>, StoreError> {
        Ok(Box::new(InPlace(self.layout.clone())))
    }
}

/// The layout imports and exports in place: pulls write verified blobs and one catalogue
/// update straight into it, which is already its transaction.
struct InPlace(Arc<LayoutStore>);

#[async_trait]
impl ImageImport for InPlace {
    fn content(&self) -> Arc<dyn Store> {
        self.0.clone()
    }

    async fn commit(self: Box<Self>, _sources: &[(Reference, Digest)]) -> Result<(), StoreError> {
        Ok(())
    }
}

impl ImageExport for InPlace {
    fn content(&self) -> Arc<dyn Store> {
        self.0.clone()
    }

    fn staged(&self, image: &InventoryImage) -> Option<InventoryImage> {
        Some(image.clone())
    }
}

/// One `rmi` query against the catalogue; the caller collects garbage afterwards.
fn remove_query(
    store: &LayoutStore,
    query: &str,
    force: bool,
) -> Result<Vec<RemoveEvent>, StoreError> {
    let removal = plan_removal(&Inventory::load(store)?, query, force)?;
    let targets: BTreeSet<Digest> = removal.targets.iter().cloned().collect();
    super::Catalog::update(store, &mut |entries| {
        entries.retain(|e| {
            if !targets.contains(&e.target.digest) {
                return true;
            }
            let named = e
                .name
                .as_ref()
                .map(|n| n.to_string())
                .or_else(|| e.foreign_name().map(str::to_string));
            match &named {
                Some(n) => !removal.names.contains(n),
                None => removal.deleted.is_none(),
            }
        });
        Ok(())
    })?;
    Ok(removal.events())
}
