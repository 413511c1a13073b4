//! The archive code as a daemon backend needs it ([`ArchiveCodec`]): a staging store's
//! images written as the docker-archive `POST /images/load` reads, and the Engine's
//! `GET /images/get` read back with every check `imagectl load` makes.

use std::io::{Read, Write};

use super::{ArchiveError, Format, SaveImage, SaveOptions, load, save};
use crate::store::{ArchiveCodec, InventoryImage, Store, StoreError};

/// The one codec.
pub struct Codec;

fn to_store(what: &str, e: ArchiveError) -> StoreError {
    match e {
        ArchiveError::Store(s) => s,
        other => StoreError::Transfer {
            what: what.to_string(),
            reason: other.to_string(),
        },
    }
}

impl ArchiveCodec for Codec {
    fn write_docker_archive(
        &self,
        content: &dyn Store,
        images: &[InventoryImage],
        out: &mut dyn Write,
    ) -> Result<(), StoreError> {
        let images: Vec<SaveImage> = images
            .iter()
            .map(|i| SaveImage {
                query: i
                    .names
                    .first()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| i.id.to_string()),
                names: i.names.clone(),
                target: i.target.clone(),
            })
            .collect();
        let opts = SaveOptions {
            format: Format::DockerEngine,
            ..SaveOptions::default()
        };
        save(content, &images, &opts, out)
            .map_err(|e| to_store("writing the archive for the Docker Engine", e))
    }

    fn read_archive(
        &self,
        content: &dyn Store,
        input: Box<dyn Read + Send>,
    ) -> Result<(), StoreError> {
        load(content, input)
            .map(drop)
            .map_err(|e| to_store("reading the Docker Engine's export", e))
    }
}
