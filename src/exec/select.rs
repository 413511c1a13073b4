//! Choosing the platforms of a multi-platform image, shared by pull and copy so both
//! answer "which children" and "that platform is missing" the same way.

use super::ExecError;
use crate::oci::{Descriptor, Manifest, Platform, Reference};

/// The children of `index` (an index or manifest list fetched for `reference`) that run on
/// `platforms`, one per platform and each once, in the order asked. A platform without a
/// child is [`ExecError::NoMatchingPlatform`], naming what the index offers.
pub(crate) fn pick_children<'a>(
    reference: &Reference,
    index: &'a Manifest,
    platforms: &[Platform],
) -> Result<Vec<&'a Descriptor>, ExecError> {
    let Manifest::Index { manifests, .. } = index else {
        return Ok(Vec::new());
    };
    let mut picked: Vec<&Descriptor> = Vec::new();
    let mut missing = Vec::new();
    for p in platforms {
        match index.select(p).first() {
            Some(c) if !picked.contains(c) => picked.push(c),
            Some(_) => {}
            None => missing.push(p.to_string()),
        }
    }
    if !missing.is_empty() || picked.is_empty() {
        return Err(ExecError::NoMatchingPlatform {
            reference: reference.to_string(),
            wanted: missing.join(", "),
            available: manifests
                .iter()
                .filter_map(|m| m.platform.as_ref().map(|p| p.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(picked)
}
