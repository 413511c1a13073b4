//! Pure OCI and Docker image types: references, digests, platforms, media types and manifests.
//! Nothing here performs I/O; every value is validated when it is parsed.

mod convert;
mod digest;
mod json_error;
mod manifest;
pub mod media;
mod platform;
mod reference;

pub use convert::{
    docker_list_to_oci, docker_manifest_to_oci, filter_index, oci_media_type, storable,
};
pub use digest::{Algorithm, Digest, DigestError, Sha256Writer};
pub use json_error::json_error_text;
pub use manifest::{Descriptor, Manifest, ManifestError};
pub use platform::{Platform, PlatformError};
pub use reference::{Reference, ReferenceError};
