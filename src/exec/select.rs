//! A walk's failure as an operation reports it, naming the image the user asked for, so
//! pull, copy and push word "that platform is missing" and "an index of indexes" alike.

use super::ExecError;
use crate::image::WalkError;

/// `e`, from walking the image the user named `what`.
pub(crate) fn walk_error<E: Into<ExecError>>(what: &str, e: WalkError<E>) -> ExecError {
    match e {
        WalkError::Read { error, .. } => error.into(),
        // A registry's manifests are parsed as they arrive (`InvalidManifest`, a `Read`
        // error): this is the store's or an archive's.
        WalkError::Manifest { source, .. } => ExecError::Manifest(source),
        WalkError::NestedIndex { .. } => ExecError::NestedIndex(what.to_string()),
        WalkError::Platform(missing) => ExecError::NoMatchingPlatform {
            reference: what.to_string(),
            wanted: missing.wanted.join(", "),
            available: missing.available.join(", "),
        },
    }
}
