//! Platforms (`os/arch[/variant]`) and how a manifest list entry is chosen for one.

use std::fmt;
use std::str::FromStr;

/// Why a string is not a platform.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid platform {0:?}: expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8")]
pub struct PlatformError(pub String);

/// An OS, architecture and optional variant, normalized the way containerd does
/// (`aarch64` → `arm64`, `x86_64` → `amd64`; `arm64` without variant means `v8`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture in GOARCH spelling, e.g. `amd64`.
    pub architecture: String,
    /// CPU variant, e.g. `v8`.
    pub variant: Option<String>,
}

impl Platform {
    /// A platform from its parts, normalized.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let os = os.to_ascii_lowercase();
        let (architecture, variant) = normalize_arch(&architecture.to_ascii_lowercase(), variant);
        Self {
            os,
            architecture,
            variant,
        }
    }

    /// The platform this binary runs on, the default for pulls.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Self::new(std::env::consts::OS, arch, None)
    }

    /// Whether an image built for `other` runs as this platform asked for it. A request
    /// without variant accepts any variant; `arm64` treats a missing variant as `v8`.
    pub fn matches(&self, other: &Platform) -> bool {
        let other = Platform::new(&other.os, &other.architecture, other.variant.as_deref());
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none()
                || self.architecture == "arm64"
                    && self.variant.as_deref() == Some("v8")
                    && other.variant.is_none()
                || self.variant == other.variant)
    }
}

fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let variant = variant
        .filter(|v| !v.is_empty())
        .map(str::to_ascii_lowercase);
    match arch {
        "x86_64" | "x86-64" => ("amd64".into(), variant),
        "aarch64" | "arm64" => ("arm64".into(), variant.filter(|v| v != "v8" && v != "8")),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => ("arm".into(), Some(variant.unwrap_or_else(|| "v7".into()))),
        "i386" | "i686" => ("386".into(), variant),
        other => (other.into(), variant),
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Self::new(os, arch, None)),
            [os, arch, v] if ok(os) && ok(arch) && ok(v) => Ok(Self::new(os, arch, Some(v))),
            _ => Err(PlatformError(s.to_string())),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes() {
        assert_eq!(
            "linux/amd64".parse::<Platform>().unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            "linux/x86_64".parse::<Platform>().unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            "linux/arm64/v8".parse::<Platform>().unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            "linux/aarch64".parse::<Platform>().unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            "linux/arm".parse::<Platform>().unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            "linux/arm/v6".parse::<Platform>().unwrap().to_string(),
            "linux/arm/v6"
        );
        for bad in ["", "linux", "linux/", "/amd64", "a/b/c/d", "linux/amd 64"] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }

    #[test]
    fn matching() {
        let arm64: Platform = "linux/arm64".parse().unwrap();
        assert!(arm64.matches(&Platform::new("linux", "arm64", Some("v8"))));
        assert!(arm64.matches(&Platform::new("linux", "arm64", None)));
        let armv7: Platform = "linux/arm/v7".parse().unwrap();
        assert!(!armv7.matches(&Platform::new("linux", "arm", Some("v6"))));
        let amd: Platform = "linux/amd64".parse().unwrap();
        assert!(!amd.matches(&arm64));
        assert!(amd.matches(&Platform::new("Linux", "x86_64", None)));
    }
}
