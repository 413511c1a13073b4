//! Image manifests and indexes in both OCI and Docker schema 2 spellings, parsed with
//! oci-spec's types and viewed through [`Descriptor`]s whose digests are already validated.

use oci_spec::image::{Descriptor as OciDescriptor, ImageIndex, ImageManifest};

use super::digest::{Digest, DigestError};
use super::media;
use super::platform::Platform;

/// Why bytes are not a manifest imagectl can use.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Docker schema 1, which registries stopped serving years ago.
    #[error(
        "manifest is Docker schema 1 ({0}), which imagectl does not support: push the image again with a current client"
    )]
    Schema1(String),
    /// A media type that is neither a manifest nor an index.
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    /// Not JSON of the expected shape.
    #[error("malformed {media_type} manifest: {}", super::json_error_text(.json))]
    Malformed {
        /// The media type it claimed.
        media_type: String,
        /// What the JSON parser said; not an error `source`, whose own text would quote
        /// the document.
        json: serde_json::Error,
    },
    /// A descriptor with a digest that is not one, or one imagectl cannot verify content
    /// against (sha384, sha512).
    #[error("manifest references an unusable digest: {0}")]
    Digest(#[from] DigestError),
}

/// A reference to content: what a manifest says about a blob or child manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Media type as the manifest states it.
    pub media_type: String,
    /// Content digest.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Platform, for entries of an index.
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// Every digest a manifest names is content imagectl will fetch or read and verify, so
    /// one it cannot verify (sha384, sha512) is refused here, saying so.
    fn from_oci(d: &OciDescriptor) -> Result<Self, ManifestError> {
        let desc = Self::read(d)?;
        desc.digest.verifiable()?;
        Ok(desc)
    }

    /// The descriptor as written, its digest well-formed in any algorithm imagectl knows.
    fn read(d: &OciDescriptor) -> Result<Self, ManifestError> {
        Ok(Self {
            media_type: d.media_type().to_string(),
            digest: d.digest().to_string().parse()?,
            size: d.size(),
            platform: d.platform().as_ref().map(|p| {
                Platform::new(
                    &p.os().to_string(),
                    &p.architecture().to_string(),
                    p.variant().as_deref(),
                )
            }),
        })
    }
}

/// A `subject` must be a descriptor like any other (the spec requires its media type,
/// digest and size; oci-spec's type enforces them), so one that is not makes the whole
/// document malformed. Unlike config, layers and entries it is not content of this
/// manifest and never fetched through it, only compared with the digests of manifests
/// held (all sha256): a sha384/sha512 subject, which the spec allows, is kept as written
/// and simply matches nothing, so such a manifest pulls and copies as before.
/// `"subject": null` is no subject.
fn subject_of(d: Option<&OciDescriptor>) -> Result<Option<Descriptor>, ManifestError> {
    d.map(Descriptor::read).transpose()
}

/// A parsed manifest or index together with the media type it was served as.
#[derive(Clone, Debug)]
pub enum Manifest {
    /// A single image: config plus layers.
    Image {
        /// Media type (OCI or Docker).
        media_type: String,
        /// The config blob.
        config: Descriptor,
        /// Layers, base first.
        layers: Vec<Descriptor>,
        /// The manifest this one refers to (OCI 1.1): set on a signature, attestation or
        /// SBOM, which the referrers API lists under that manifest's digest.
        subject: Option<Descriptor>,
    },
    /// An index or manifest list of per-platform manifests.
    Index {
        /// Media type (OCI or Docker).
        media_type: String,
        /// Child manifests.
        manifests: Vec<Descriptor>,
        /// The manifest this index refers to (OCI 1.1), as on an image manifest.
        subject: Option<Descriptor>,
    },
}

impl Manifest {
    /// Parse manifest bytes. The media type comes from the document's own `mediaType`,
    /// else the HTTP `Content-Type`, else the shape (umoci omits `mediaType`).
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self, ManifestError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            schema_version: Option<u32>,
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
        }
        let malformed = |media_type: &str, json| ManifestError::Malformed {
            media_type: media_type.to_string(),
            json,
        };
        let probe: Probe = serde_json::from_slice(bytes).map_err(|e| malformed("image", e))?;
        let content_type = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim())
            .filter(|c| !c.is_empty() && *c != "application/json" && *c != "text/plain");
        let media_type = match (probe.media_type, content_type) {
            (Some(m), _) => m,
            (None, Some(c)) => c.to_string(),
            (None, None) if probe.manifests.is_some() => media::OCI_INDEX.to_string(),
            (None, None) if probe.schema_version == Some(1) => media::DOCKER_SCHEMA1.to_string(),
            (None, None) => media::OCI_MANIFEST.to_string(),
        };
        if probe.schema_version == Some(1)
            || media_type == media::DOCKER_SCHEMA1
            || media_type == media::DOCKER_SCHEMA1_SIGNED
        {
            return Err(ManifestError::Schema1(media_type));
        }
        if media::is_index(&media_type) {
            let index: ImageIndex =
                serde_json::from_slice(bytes).map_err(|e| malformed(&media_type, e))?;
            let manifests = index
                .manifests()
                .iter()
                .map(Descriptor::from_oci)
                .collect::<Result<_, _>>()?;
            Ok(Self::Index {
                media_type,
                manifests,
                subject: subject_of(index.subject().as_ref())?,
            })
        } else if media::is_manifest(&media_type) {
            let m: ImageManifest =
                serde_json::from_slice(bytes).map_err(|e| malformed(&media_type, e))?;
            Ok(Self::Image {
                media_type,
                config: Descriptor::from_oci(m.config())?,
                layers: m
                    .layers()
                    .iter()
                    .map(Descriptor::from_oci)
                    .collect::<Result<_, _>>()?,
                subject: subject_of(m.subject().as_ref())?,
            })
        } else {
            Err(ManifestError::UnsupportedMediaType(media_type))
        }
    }

    /// The media type the manifest was served or stored as.
    pub fn media_type(&self) -> &str {
        match self {
            Self::Image { media_type, .. } | Self::Index { media_type, .. } => media_type,
        }
    }

    /// The manifest this one is a referrer of (signature, attestation, SBOM), if any.
    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Self::Image { subject, .. } | Self::Index { subject, .. } => subject.as_ref(),
        }
    }

    /// Config and layers of an image manifest (empty for an index).
    pub fn blobs(&self) -> Vec<&Descriptor> {
        match self {
            Self::Image { config, layers, .. } => std::iter::once(config).chain(layers).collect(),
            Self::Index { .. } => Vec::new(),
        }
    }

    /// The entries of an index that run on `platform`, best first; for an image, none.
    pub fn select(&self, platform: &Platform) -> Vec<&Descriptor> {
        match self {
            Self::Index { manifests, .. } => manifests
                .iter()
                .filter(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
                .collect(),
            Self::Image { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn parses_docker_manifest_and_list() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":7,"digest":"{D1}"}},"layers":[{{"mediaType":"{}","size":9,"digest":"{D2}"}}]}}"#,
            media::DOCKER_MANIFEST,
            media::DOCKER_CONFIG,
            media::DOCKER_LAYER_GZIP
        );
        let parsed = Manifest::parse(m.as_bytes(), None).unwrap();
        assert_eq!(parsed.media_type(), media::DOCKER_MANIFEST);
        assert_eq!(parsed.blobs().len(), 2);
        let l = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","size":7,"digest":"{D1}","platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},{{"mediaType":"{}","size":7,"digest":"{D2}","platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
            media::DOCKER_MANIFEST_LIST,
            media::DOCKER_MANIFEST,
            media::DOCKER_MANIFEST
        );
        let parsed = Manifest::parse(l.as_bytes(), None).unwrap();
        let amd = parsed.select(&"linux/amd64".parse().unwrap());
        assert_eq!(amd.len(), 1);
        assert_eq!(amd[0].digest.to_string(), D2);
        let arm = parsed.select(&"linux/arm64".parse().unwrap());
        assert_eq!(arm[0].digest.to_string(), D1);
    }

    #[test]
    fn media_type_from_header_or_shape() {
        let m = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{}","size":7,"digest":"{D1}"}},"layers":[]}}"#,
            media::OCI_CONFIG
        );
        let parsed = Manifest::parse(
            m.as_bytes(),
            Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
        )
        .unwrap();
        assert_eq!(parsed.media_type(), media::OCI_MANIFEST);
        let parsed = Manifest::parse(m.as_bytes(), None).unwrap();
        assert_eq!(parsed.media_type(), media::OCI_MANIFEST);
    }

    /// A manifest naming a sha512 blob is refused in one line saying sha512 content cannot
    /// be verified, not as a malformed document.
    #[test]
    fn refuses_blobs_it_cannot_verify() {
        let sha512 = format!("sha512:{}", "f".repeat(128));
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":7,"digest":"{D1}"}},"layers":[{{"mediaType":"{}","size":9,"digest":"{sha512}"}}]}}"#,
            media::OCI_MANIFEST,
            media::OCI_CONFIG,
            media::OCI_LAYER_GZIP
        );
        let e = Manifest::parse(m.as_bytes(), None).unwrap_err();
        assert!(
            matches!(e, ManifestError::Digest(DigestError::Unverifiable { .. })),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "manifest references an unusable digest: {sha512}: sha512 content cannot be verified by imagectl yet (it verifies sha256 only)"
            )
        );
    }

    /// A manifest's or an index's `subject` (a referrer's) is read as a descriptor;
    /// absent or `null`, there is none.
    #[test]
    fn reads_the_subject_of_a_manifest_and_an_index() {
        let subject = format!(
            r#"{{"mediaType":"{}","size":5,"digest":"{D2}"}}"#,
            media::OCI_MANIFEST
        );
        let image = |s: &str| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":7,"digest":"{D1}"}},"layers":[]{s}}}"#,
                media::OCI_MANIFEST,
                media::OCI_CONFIG
            )
        };
        let parsed =
            Manifest::parse(image(&format!(r#","subject":{subject}"#)).as_bytes(), None).unwrap();
        let s = parsed.subject().expect("a subject");
        assert_eq!((s.digest.to_string().as_str(), s.size), (D2, 5));
        assert_eq!(s.media_type, media::OCI_MANIFEST);
        for none in ["", r#","subject":null"#] {
            assert!(
                Manifest::parse(image(none).as_bytes(), None)
                    .unwrap()
                    .subject()
                    .is_none()
            );
        }
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[],"subject":{subject}}}"#,
            media::OCI_INDEX
        );
        let parsed = Manifest::parse(index.as_bytes(), None).unwrap();
        assert!(matches!(parsed, Manifest::Index { .. }));
        assert_eq!(parsed.subject().unwrap().digest.to_string(), D2);
    }

    /// A subject that is not a descriptor makes the manifest malformed, as any other bad
    /// descriptor does (missing size, a digest that is none); a sha512 subject is a
    /// descriptor the spec allows and is kept as written, though imagectl verifies only
    /// sha256 content. (Archive load refused it, `save --referrers` skipped the referrer;
    /// both now read this parse.)
    #[test]
    fn a_subject_is_a_descriptor_of_any_known_digest() {
        let with = |subject: &str| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":7,"digest":"{D1}"}},"layers":[],"subject":{subject}}}"#,
                media::OCI_MANIFEST,
                media::OCI_CONFIG
            )
        };
        let manifest = media::OCI_MANIFEST;
        for malformed in [
            format!(r#"{{"mediaType":"{manifest}","digest":"{D2}"}}"#),
            format!(r#"{{"mediaType":"{manifest}","size":5,"digest":"sha256:abc"}}"#),
            format!(r#""{D2}""#),
        ] {
            let e = Manifest::parse(with(&malformed).as_bytes(), None).unwrap_err();
            assert!(
                matches!(
                    e,
                    ManifestError::Malformed { .. } | ManifestError::Digest(_)
                ),
                "{malformed}: {e:?}"
            );
        }
        let sha512 = format!("sha512:{}", "f".repeat(128));
        let parsed = Manifest::parse(
            with(&format!(
                r#"{{"mediaType":"{manifest}","size":5,"digest":"{sha512}"}}"#
            ))
            .as_bytes(),
            None,
        )
        .unwrap();
        assert_eq!(parsed.subject().unwrap().digest.to_string(), sha512);
    }

    #[test]
    fn refuses_schema1_and_garbage() {
        assert!(matches!(
            Manifest::parse(br#"{"schemaVersion":1,"name":"x"}"#, None),
            Err(ManifestError::Schema1(_))
        ));
        assert!(matches!(
            Manifest::parse(b"<html>", None),
            Err(ManifestError::Malformed { .. })
        ));
        assert!(matches!(
            Manifest::parse(br#"{"schemaVersion":2,"mediaType":"text/html"}"#, None),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
    }
}
