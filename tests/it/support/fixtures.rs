//! Deterministic fixture images built in Rust (real gzip'd layer tars, configs with correct
//! `rootfs.diff_ids`, OCI or Docker schema2 manifests, multi-platform indexes), written into
//! an OCI image layout directory and pushed to a test registry with skopeo or plain HTTP.
//!
//! ```ignore
//! let fx = fixtures::Standard::new();                 // layout with app-v1, app-v2, multi
//! let reg = Registry::start();
//! let digest = fx.push(&reg, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
//! assert_eq!(digest, fx.app_v1.manifest_digest);
//! ```
//!
//! The same inputs always give the same bytes, hence the same digests.

mod image;
mod layout;
mod push;

use std::io::Write;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub use image::{FixtureImage, FixtureIndex, ImageBuilder, app_image, multi_platform};
pub use layout::{OciLayout, Standard};
#[allow(unused_imports)]
pub use push::{
    push, push_image, push_image_http, push_index, push_index_http, push_with_creds, served_digest,
};

/// `created` of every fixture unless overridden.
pub const CREATED: &str = "2024-01-01T00:00:00Z";
/// Unix time of [`CREATED`], used as the mtime of every tar entry.
const MTIME: u64 = 1_704_067_200;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// The annotation naming an image in an OCI layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Which manifest media types an image (or a push) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaFormat {
    /// OCI image manifest / OCI image index.
    Oci,
    /// Docker schema2 manifest / Docker manifest list.
    Docker,
}

/// "sha256:<hex>" of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The hex part of a "sha256:<hex>" digest.
pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").expect("sha256 digest")
}

/// A platform, `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn linux_amd64() -> Platform {
        Platform::parse("linux/amd64")
    }

    pub fn linux_arm64_v8() -> Platform {
        Platform::parse("linux/arm64/v8")
    }

    /// Parses "os/arch" or "os/arch/variant".
    pub fn parse(s: &str) -> Platform {
        let mut it = s.split('/');
        let os = it.next().expect("os").to_string();
        let architecture = it.next().expect("architecture").to_string();
        let variant = it.next().map(String::from);
        Platform {
            os,
            architecture,
            variant,
        }
    }

    pub(super) fn to_json(&self) -> Value {
        let mut v = json!({"os": self.os, "architecture": self.architecture});
        if let Some(variant) = &self.variant {
            v["variant"] = json!(variant);
        }
        v
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A gzip-compressed layer tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Digest of the compressed blob (what manifests reference).
    pub digest: String,
    /// Digest of the uncompressed tar (what the config's `rootfs.diff_ids` lists).
    pub diff_id: String,
    /// Size of the compressed blob.
    pub size: u64,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
    /// The compressed blob.
    pub blob: Vec<u8>,
    /// Regular files in the tar: (path, content).
    pub files: Vec<(String, Vec<u8>)>,
}

impl Layer {
    /// A layer holding these regular files (parent directories are added as entries).
    pub fn from_files<P: AsRef<str>, C: AsRef<[u8]>>(files: &[(P, C)]) -> Layer {
        let files: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(p, c)| {
                (
                    p.as_ref().trim_start_matches('/').to_string(),
                    c.as_ref().to_vec(),
                )
            })
            .collect();
        let mut builder = tar::Builder::new(Vec::new());
        let mut dirs = std::collections::BTreeSet::new();
        for (path, content) in &files {
            let parts: Vec<&str> = path.split('/').collect();
            for i in 1..parts.len() {
                let dir = format!("{}/", parts[..i].join("/"));
                if dirs.insert(dir.clone()) {
                    let mut h = header(tar::EntryType::Directory, 0o755, 0);
                    builder
                        .append_data(&mut h, &dir, std::io::empty())
                        .expect("tar dir");
                }
            }
            let mut h = header(tar::EntryType::Regular, 0o644, content.len() as u64);
            builder
                .append_data(&mut h, path, content.as_slice())
                .expect("tar file");
        }
        let tar = builder.into_inner().expect("tar finish");
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).expect("gzip");
        let blob = gz.finish().expect("gzip finish");
        Layer {
            digest: sha256_digest(&blob),
            diff_id: sha256_digest(&tar),
            size: blob.len() as u64,
            uncompressed_size: tar.len() as u64,
            blob,
            files,
        }
    }

    /// A layer with one file of `size` pseudo-random (incompressible, but deterministic) bytes.
    pub fn random(path: &str, size: usize, seed: u64) -> Layer {
        Layer::from_files(&[(path, pseudo_random(size, seed))])
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// `size` bytes from a splitmix64 stream seeded with `seed`.
pub fn pseudo_random(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(size);
    out
}

/// The shared base layer of the standard fixtures.
pub fn base_layer() -> Layer {
    Layer::from_files(&[
        (
            "etc/os-release",
            &b"NAME=\"imagectl fixture\"\nID=fixture\n"[..],
        ),
        ("etc/motd", b"shared base layer\n"),
        ("bin/hello", b"#!/bin/sh\necho hello\n"),
    ])
}

/// The base layer then `layers` random layers `DIR/0`, `DIR/1`… of `size` bytes each (seeds
/// `seed`, `seed + 1`…): an image whose download takes long enough to interrupt.
pub fn big_image(dir: &str, layers: u64, size: usize, seed: u64) -> FixtureImage {
    let mut builder = ImageBuilder::new().layer(base_layer());
    for i in 0..layers {
        builder = builder.layer(Layer::random(&format!("{dir}/{i}"), size, seed + i));
    }
    builder.build()
}
