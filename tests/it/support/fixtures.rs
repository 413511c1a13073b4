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

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::http::Basic;
use super::registry::Registry;

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

    fn to_json(&self) -> Value {
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

/// Builds one image; finish with [`ImageBuilder::build`].
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    layers: Vec<Layer>,
    history: Vec<Value>,
    platform: Platform,
    cmd: Vec<String>,
    env: Vec<String>,
    labels: Vec<(String, String)>,
    created: String,
    format: MediaFormat,
    omit_media_type: bool,
    annotations: Vec<(String, String)>,
}

impl Default for ImageBuilder {
    fn default() -> Self {
        ImageBuilder {
            layers: Vec::new(),
            history: Vec::new(),
            platform: Platform::linux_amd64(),
            cmd: vec!["/bin/hello".into()],
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            labels: Vec::new(),
            created: CREATED.into(),
            format: MediaFormat::Oci,
            omit_media_type: false,
            annotations: Vec::new(),
        }
    }
}

impl ImageBuilder {
    pub fn new() -> ImageBuilder {
        ImageBuilder::default()
    }

    /// Appends a layer (and a history entry `COPY <files> /` for it).
    pub fn layer(mut self, layer: Layer) -> Self {
        let names: Vec<&str> = layer.files.iter().map(|(p, _)| p.as_str()).collect();
        self.history.push(json!({
            "created": self.created,
            "created_by": format!("COPY {} / # buildkit", names.join(" ")),
        }));
        self.layers.push(layer);
        self
    }

    /// Appends a history entry with `empty_layer: true` (like `ENV` or `CMD` steps).
    pub fn empty_history(mut self, created_by: &str) -> Self {
        self.history.push(json!({
            "created": self.created,
            "created_by": created_by,
            "empty_layer": true,
        }));
        self
    }

    pub fn platform(mut self, platform: Platform) -> Self {
        self.platform = platform;
        self
    }

    pub fn cmd(mut self, cmd: &[&str]) -> Self {
        self.cmd = cmd.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn env(mut self, env: &[&str]) -> Self {
        self.env = env.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.into(), value.into()));
        self
    }

    /// RFC 3339 creation time of the image (config `created`).
    pub fn created(mut self, created: &str) -> Self {
        self.created = created.into();
        self
    }

    /// OCI (default) or Docker schema2 media types.
    pub fn format(mut self, format: MediaFormat) -> Self {
        self.format = format;
        self
    }

    /// Leave `mediaType` out of the manifest JSON (umoci does this; the type is then only
    /// in the `Content-Type` header).
    pub fn omit_media_type(mut self) -> Self {
        self.omit_media_type = true;
        self
    }

    /// Adds a manifest annotation.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.push((key.into(), value.into()));
        self
    }

    pub fn build(self) -> FixtureImage {
        assert!(!self.layers.is_empty(), "an image needs at least one layer");
        let (manifest_type, config_type, layer_type) = match self.format {
            MediaFormat::Oci => (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP),
            MediaFormat::Docker => (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER_GZIP),
        };
        let labels: serde_json::Map<String, Value> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let mut config = json!({
            "created": self.created,
            "architecture": self.platform.architecture,
            "os": self.platform.os,
            "config": {
                "Cmd": self.cmd,
                "Env": self.env,
                "WorkingDir": "/",
            },
            "rootfs": {
                "type": "layers",
                "diff_ids": self.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
            },
            "history": self.history,
        });
        if !labels.is_empty() {
            config["config"]["Labels"] = Value::Object(labels);
        }
        if let Some(v) = &self.platform.variant {
            config["variant"] = json!(v);
        }
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let config_digest = sha256_digest(&config_bytes);
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {
                "mediaType": config_type,
                "digest": config_digest,
                "size": config_bytes.len(),
            },
            "layers": self.layers.iter().map(|l| json!({
                "mediaType": layer_type,
                "digest": l.digest,
                "size": l.size,
            })).collect::<Vec<_>>(),
        });
        if self.omit_media_type {
            manifest.as_object_mut().unwrap().remove("mediaType");
        }
        if !self.annotations.is_empty() {
            let a: serde_json::Map<String, Value> = self
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            manifest["annotations"] = Value::Object(a);
        }
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
        FixtureImage {
            manifest_digest: sha256_digest(&manifest_bytes),
            manifest_size: manifest_bytes.len() as u64,
            manifest_media_type: manifest_type.to_string(),
            manifest: manifest_bytes,
            config_digest,
            config_size: config_bytes.len() as u64,
            config: config_bytes,
            layers: self.layers,
            platform: self.platform,
            format: self.format,
        }
    }
}

/// A built image: every blob, its digests and sizes.
#[derive(Debug, Clone)]
pub struct FixtureImage {
    pub manifest_digest: String,
    pub manifest_size: u64,
    pub manifest_media_type: String,
    pub manifest: Vec<u8>,
    /// The config digest (= Docker's image ID).
    pub config_digest: String,
    pub config_size: u64,
    pub config: Vec<u8>,
    pub layers: Vec<Layer>,
    pub platform: Platform,
    pub format: MediaFormat,
}

impl FixtureImage {
    pub fn layer_digests(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.digest.clone()).collect()
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    /// Compressed layer bytes plus config (what `docker images` would not show, but what a
    /// registry stores and a pull downloads besides the manifest).
    pub fn blobs_size(&self) -> u64 {
        self.config_size + self.layers.iter().map(|l| l.size).sum::<u64>()
    }

    /// Manifest + config + compressed layers: the bytes an OCI layout holds for this image.
    pub fn total_size(&self) -> u64 {
        self.manifest_size + self.blobs_size()
    }

    /// Sum of the uncompressed layer tars (Docker's "SIZE" of an image).
    pub fn uncompressed_size(&self) -> u64 {
        self.layers.iter().map(|l| l.uncompressed_size).sum()
    }

    /// Every blob except the manifest: (digest, bytes), config first.
    pub fn blobs(&self) -> Vec<(String, &[u8])> {
        let mut v = vec![(self.config_digest.clone(), self.config.as_slice())];
        v.extend(
            self.layers
                .iter()
                .map(|l| (l.digest.clone(), l.blob.as_slice())),
        );
        v
    }

    /// The config as JSON.
    pub fn config_json(&self) -> Value {
        serde_json::from_slice(&self.config).unwrap()
    }
}

/// A multi-platform image: an OCI image index or a Docker manifest list.
#[derive(Debug, Clone)]
pub struct FixtureIndex {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub images: Vec<FixtureImage>,
}

impl FixtureIndex {
    /// An index of `images` (each entry carries its image's platform). All images must
    /// have the format of the index.
    pub fn new(format: MediaFormat, images: Vec<FixtureImage>) -> FixtureIndex {
        let media_type = match format {
            MediaFormat::Oci => OCI_INDEX,
            MediaFormat::Docker => DOCKER_LIST,
        };
        for i in &images {
            assert_eq!(i.format, format, "index and image formats differ");
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": images.iter().map(|i| json!({
                "mediaType": i.manifest_media_type,
                "digest": i.manifest_digest,
                "size": i.manifest_size,
                "platform": i.platform.to_json(),
            })).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec(&index).unwrap();
        FixtureIndex {
            digest: sha256_digest(&bytes),
            size: bytes.len() as u64,
            media_type: media_type.to_string(),
            bytes,
            images,
        }
    }

    /// The image for `platform` ("linux/arm64/v8").
    pub fn image(&self, platform: &str) -> &FixtureImage {
        let p = Platform::parse(platform);
        self.images
            .iter()
            .find(|i| i.platform == p)
            .unwrap_or_else(|| panic!("no {platform} image in index"))
    }
}

/// The image `demo/app` at `version`: the shared base layer plus one layer of its own.
pub fn app_image(version: &str, format: MediaFormat) -> FixtureImage {
    ImageBuilder::new()
        .format(format)
        .layer(base_layer())
        .layer(Layer::from_files(&[
            ("app/version".to_string(), format!("{version}\n")),
            ("app/README".to_string(), format!("demo app {version}\n")),
        ]))
        .empty_history(&format!("ENV APP_VERSION={version}"))
        .env(&[
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            &format!("APP_VERSION={version}"),
        ])
        .cmd(&["/bin/hello", version])
        .label("org.opencontainers.image.version", version)
        .build()
}

/// A two-platform image (linux/amd64 and linux/arm64/v8) whose platform images share the
/// base layer and differ in a second layer and in their configs.
pub fn multi_platform(name: &str, format: MediaFormat) -> FixtureIndex {
    let images = [Platform::linux_amd64(), Platform::linux_arm64_v8()]
        .into_iter()
        .map(|p| {
            ImageBuilder::new()
                .format(format)
                .platform(p.clone())
                .layer(base_layer())
                .layer(Layer::from_files(&[(
                    "etc/platform".to_string(),
                    format!("{name} for {p}\n"),
                )]))
                .cmd(&["/bin/hello", &p.to_string()])
                .build()
        })
        .collect();
    FixtureIndex::new(format, images)
}

/// An OCI image layout directory being written.
pub struct OciLayout {
    dir: PathBuf,
    entries: Vec<Value>,
}

impl OciLayout {
    /// Creates `dir` (and `oci-layout`, `blobs/sha256/`, an empty `index.json`).
    pub fn create(dir: &Path) -> OciLayout {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let layout = OciLayout {
            dir: dir.to_path_buf(),
            entries: Vec::new(),
        };
        layout.write_index();
        layout
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a blob unless present; returns its digest.
    pub fn write_blob(&self, data: &[u8]) -> String {
        let digest = sha256_digest(data);
        let path = self.dir.join("blobs/sha256").join(hex_of(&digest));
        if !path.exists() {
            fs::write(&path, data).unwrap();
        }
        digest
    }

    fn write_image_blobs(&self, image: &FixtureImage) {
        for (_, data) in image.blobs() {
            self.write_blob(data);
        }
        self.write_blob(&image.manifest);
    }

    /// Adds an image named `ref_name` (e.g. "app-v1").
    pub fn add_image(&mut self, image: &FixtureImage, ref_name: &str) {
        self.write_image_blobs(image);
        self.add_entry(
            &image.manifest_media_type,
            &image.manifest_digest,
            image.manifest_size,
            ref_name,
        );
    }

    /// Adds an index (and all its images) named `ref_name`.
    pub fn add_index(&mut self, index: &FixtureIndex, ref_name: &str) {
        for image in &index.images {
            self.write_image_blobs(image);
        }
        self.write_blob(&index.bytes);
        self.add_entry(&index.media_type, &index.digest, index.size, ref_name);
    }

    fn add_entry(&mut self, media_type: &str, digest: &str, size: u64, ref_name: &str) {
        self.entries
            .retain(|e| e["annotations"][REF_NAME].as_str() != Some(ref_name));
        self.entries.push(json!({
            "mediaType": media_type,
            "digest": digest,
            "size": size,
            "annotations": { REF_NAME: ref_name },
        }));
        self.write_index();
    }

    fn write_index(&self) {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": self.entries,
        });
        fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }
}

/// A temp OCI layout holding the standard fixtures:
/// `app-v1`, `app-v2` (sharing the base layer) and `multi` (OCI index, amd64 + arm64/v8).
pub struct Standard {
    pub dir: tempfile::TempDir,
    pub app_v1: FixtureImage,
    pub app_v2: FixtureImage,
    pub multi: FixtureIndex,
}

impl Standard {
    pub fn new() -> Standard {
        let dir = tempfile::Builder::new()
            .prefix("imagectl-it-fixtures-")
            .tempdir()
            .unwrap();
        let app_v1 = app_image("1.0", MediaFormat::Oci);
        let app_v2 = app_image("2.0", MediaFormat::Oci);
        let multi = multi_platform("multi", MediaFormat::Oci);
        let mut layout = OciLayout::create(dir.path());
        layout.add_image(&app_v1, "app-v1");
        layout.add_image(&app_v2, "app-v2");
        layout.add_index(&multi, "multi");
        Standard {
            dir,
            app_v1,
            app_v2,
            multi,
        }
    }

    pub fn layout(&self) -> &Path {
        self.dir.path()
    }

    /// Pushes layout entry `ref_name` to `reg` as `repo_and_tag`; returns the served digest.
    pub fn push(
        &self,
        reg: &Registry,
        ref_name: &str,
        repo_and_tag: &str,
        format: MediaFormat,
        all_platforms: bool,
    ) -> String {
        push_with_creds(
            self.layout(),
            ref_name,
            &reg.host(),
            repo_and_tag,
            format,
            all_platforms,
            reg.credentials(),
        )
    }
}

impl Default for Standard {
    fn default() -> Self {
        Standard::new()
    }
}

/// Pushes one image with skopeo (through a temp OCI layout); returns the served digest.
/// Use this for `MediaFormat::Docker` conversion; [`push_image_http`] keeps exact bytes.
pub fn push_image(
    reg: &Registry,
    image: &FixtureImage,
    repo_and_tag: &str,
    format: MediaFormat,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    OciLayout::create(dir.path()).add_image(image, "image");
    push_with_creds(
        dir.path(),
        "image",
        &reg.host(),
        repo_and_tag,
        format,
        false,
        reg.credentials(),
    )
}

/// Pushes an index with skopeo (through a temp OCI layout); returns the served digest.
pub fn push_index(
    reg: &Registry,
    index: &FixtureIndex,
    repo_and_tag: &str,
    format: MediaFormat,
    all_platforms: bool,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    OciLayout::create(dir.path()).add_index(index, "index");
    push_with_creds(
        dir.path(),
        "index",
        &reg.host(),
        repo_and_tag,
        format,
        all_platforms,
        reg.credentials(),
    )
}

/// `skopeo copy oci:LAYOUT:REF docker://HOST/REPO:TAG`, then returns the digest the registry
/// serves for the tag. `MediaFormat::Docker` converts to Docker schema2 (`--format v2s2`; with
/// `all_platforms` an OCI index becomes a Docker manifest list). Without `all_platforms` an
/// index is reduced to its linux/amd64 image.
pub fn push(
    layout_dir: &Path,
    ref_name: &str,
    registry_host: &str,
    repo_and_tag: &str,
    format: MediaFormat,
    all_platforms: bool,
) -> String {
    push_with_creds(
        layout_dir,
        ref_name,
        registry_host,
        repo_and_tag,
        format,
        all_platforms,
        None,
    )
}

/// [`push`] with basic-auth credentials for the destination.
pub fn push_with_creds(
    layout_dir: &Path,
    ref_name: &str,
    registry_host: &str,
    repo_and_tag: &str,
    format: MediaFormat,
    all_platforms: bool,
    creds: Option<&Basic>,
) -> String {
    let mut cmd = crate::support::tools::tool("skopeo");
    cmd.args([
        "--insecure-policy",
        "--override-os",
        "linux",
        "--override-arch",
        "amd64",
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
    ]);
    if format == MediaFormat::Docker {
        cmd.args(["--format", "v2s2"]);
    }
    if all_platforms {
        cmd.arg("--all");
    }
    if let Some(c) = creds {
        cmd.arg("--dest-creds")
            .arg(format!("{}:{}", c.user, c.pass));
    }
    let src = format!("oci:{}:{ref_name}", layout_dir.display());
    let dst = format!("docker://{registry_host}/{repo_and_tag}");
    cmd.arg(&src).arg(&dst);
    let out = cmd.output().expect("run skopeo (Debian package skopeo)");
    assert!(
        out.status.success(),
        "skopeo copy {src} {dst} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (repo, tag) = repo_and_tag
        .rsplit_once(':')
        .expect("repo_and_tag needs a :tag");
    served_digest(registry_host, repo, tag, creds)
}

/// The `Docker-Content-Digest` a registry serves for `repo:reference` (HEAD, all manifest
/// types accepted).
pub fn served_digest(host: &str, repo: &str, reference: &str, creds: Option<&Basic>) -> String {
    let resp = super::http::request(
        host,
        "HEAD",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Accept", super::registry::ACCEPT_MANIFESTS)],
        creds,
        &[],
    )
    .expect("HEAD manifest");
    assert_eq!(resp.status, 200, "HEAD {host}/{repo}:{reference}");
    resp.header("docker-content-digest")
        .expect("Docker-Content-Digest")
        .to_string()
}

/// Pushes an image with plain HTTP (blobs monolithically, then the manifest under `tag`),
/// without skopeo; the manifest keeps exactly the fixture's bytes and media type.
pub fn push_image_http(reg: &Registry, repo: &str, tag: &str, image: &FixtureImage) -> String {
    for (digest, data) in image.blobs() {
        if !blob_exists(reg, repo, &digest) {
            reg.put_blob(repo, data);
        }
    }
    reg.put_manifest(repo, tag, &image.manifest_media_type, &image.manifest)
}

/// Pushes an index or manifest list with plain HTTP: every image by digest, then the index
/// under `tag`. This is how to get a Docker manifest list with exactly the fixture's bytes.
pub fn push_index_http(reg: &Registry, repo: &str, tag: &str, index: &FixtureIndex) -> String {
    for image in &index.images {
        push_image_http(reg, repo, &image.manifest_digest, image);
    }
    reg.put_manifest(repo, tag, &index.media_type, &index.bytes)
}

fn blob_exists(reg: &Registry, repo: &str, digest: &str) -> bool {
    reg.call("HEAD", &format!("/v2/{repo}/blobs/{digest}"), &[], &[])
        .map(|r| r.status == 200)
        .unwrap_or(false)
}
