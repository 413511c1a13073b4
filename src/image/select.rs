//! Choosing the entries of an index, so every operation answers "which platforms" and
//! "that platform is missing" the same way.

use crate::oci::{Descriptor, Manifest, Platform};

/// Which entries of an index an operation takes.
#[derive(Clone, Copy, Debug)]
pub enum Selection<'a> {
    /// Every entry: the whole image.
    All,
    /// One entry per platform, each once, in the order asked; a platform the index lacks
    /// is an error.
    Each(&'a [Platform]),
    /// Like `Each`, but platforms the index lacks are passed over.
    Available(&'a [Platform]),
    /// The first entry: what a listing shows for a multi-platform tag.
    First,
}

/// Platforms asked for that an index does not have.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no image for platform {} (it has: {})", .wanted.join(", "), .available.join(", "))]
pub struct NoPlatform {
    /// The platforms asked for and missing.
    pub wanted: Vec<String>,
    /// What the index offers.
    pub available: Vec<String>,
}

/// The entries of `index` that `selection` takes; none for an image manifest.
pub fn pick<'m>(
    index: &'m Manifest,
    selection: &Selection<'_>,
) -> Result<Vec<&'m Descriptor>, NoPlatform> {
    let Manifest::Index { manifests, .. } = index else {
        return Ok(Vec::new());
    };
    let (platforms, strict) = match selection {
        Selection::All => return Ok(manifests.iter().collect()),
        Selection::First => return Ok(manifests.iter().take(1).collect()),
        Selection::Each(p) => (*p, true),
        Selection::Available(p) => (*p, false),
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
    if strict && (!missing.is_empty() || picked.is_empty()) {
        return Err(NoPlatform {
            wanted: missing,
            available: manifests
                .iter()
                .filter_map(|m| m.platform.as_ref().map(ToString::to_string))
                .collect(),
        });
    }
    Ok(picked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::{Digest, media};

    fn index() -> Manifest {
        let entry = |n: u8, arch: &str| Descriptor {
            media_type: media::OCI_MANIFEST.into(),
            digest: Digest::of(&[n]),
            size: 1,
            platform: Some(Platform::new("linux", arch, None)),
        };
        Manifest::Index {
            media_type: media::OCI_INDEX.into(),
            manifests: vec![entry(1, "amd64"), entry(2, "arm64")],
            subject: None,
        }
    }

    #[test]
    fn each_platform_once_in_the_order_asked_and_missing_ones_named() {
        let idx = index();
        let arm = Platform::new("linux", "arm64", None);
        let amd = Platform::new("linux", "amd64", None);
        let s390 = Platform::new("linux", "s390x", None);
        let asked = [arm.clone(), amd.clone(), arm.clone()];
        let picked = pick(&idx, &Selection::Each(&asked)).unwrap();
        assert_eq!(picked.len(), 2);
        assert_eq!(picked[0].platform.as_ref(), Some(&arm));
        let err = pick(&idx, &Selection::Each(&[amd.clone(), s390.clone()])).unwrap_err();
        assert_eq!(err.wanted, vec!["linux/s390x".to_string()]);
        assert_eq!(err.available, vec!["linux/amd64", "linux/arm64"]);
        let some = pick(&idx, &Selection::Available(&[s390, amd])).unwrap();
        assert_eq!(some.len(), 1);
        assert_eq!(pick(&idx, &Selection::All).unwrap().len(), 2);
    }
}
