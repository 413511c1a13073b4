//! Reading a version number out of a tag (`v1.2.3`, `1.25`, `1.25.3-alpine`), the way
//! registries' tags are actually written rather than strict SemVer.

use semver::{BuildMetadata, Prerelease, Version};

/// The version a tag denotes, or `None` for tags that are not versions (`latest`, `stable`,
/// `1.2.3.4`). Accepts an optional `v`, one to three numeric parts (missing parts are 0:
/// `1.2` is 1.2.0, `1` is 1.0.0; leading zeros allowed, so date tags like `2024.01.15`
/// parse), then an optional `-prerelease` and `+build` as in SemVer. Docker's flavour
/// suffixes read as pre-releases (`1.25-alpine` is 1.25.0-alpine), which is why selectors
/// without a range leave them out unless a `match` pattern asks for them.
pub fn parse_version(tag: &str) -> Option<Version> {
    let s = tag.strip_prefix('v').unwrap_or(tag);
    let (s, build) = match s.split_once('+') {
        Some((s, b)) if !b.is_empty() => (s, BuildMetadata::new(b).ok()?),
        Some(_) => return None,
        None => (s, BuildMetadata::EMPTY),
    };
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) if !p.is_empty() => (c, Prerelease::new(p).ok()?),
        Some(_) => return None,
        None => (s, Prerelease::EMPTY),
    };
    let mut nums = [0u64; 3];
    for (i, part) in core.split('.').enumerate() {
        if i == 3 || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        nums[i] = part.parse().ok()?;
    }
    Some(Version {
        major: nums[0],
        minor: nums[1],
        patch: nums[2],
        pre,
        build,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("1.2.3", Some("1.2.3")),
            ("v1.2.3", Some("1.2.3")),
            ("1.2", Some("1.2.0")),
            ("1", Some("1.0.0")),
            ("v2", Some("2.0.0")),
            ("1.2.3-rc.1", Some("1.2.3-rc.1")),
            ("1.25-alpine", Some("1.25.0-alpine")),
            ("1.25.3-alpine3.19", Some("1.25.3-alpine3.19")),
            ("1.2.3+build.5", Some("1.2.3+build.5")),
            ("2024.01.15", Some("2024.1.15")),
            ("latest", None),
            ("stable", None),
            ("1.2.3.4", None),
            ("", None),
            ("v", None),
            ("1.", None),
            (".1", None),
            ("1..2", None),
            ("1.2.3-", None),
            ("1.2.3+", None),
            ("1.2.3-rc..1", None),
            ("1.2.3_rc1", None),
            ("vv1", None),
            ("V1.2", None),
            ("1.2a", None),
            ("99999999999999999999999", None),
        ];
        for (tag, want) in cases {
            let got = parse_version(tag).map(|v| v.to_string());
            assert_eq!(got.as_deref(), *want, "{tag}");
        }
    }
}
