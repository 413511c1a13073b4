//! A test's world in a few lines: a registry with images in it, a store (the embedded one,
//! in a temp dir with its own `HOME`), what is already pulled, and a policy file.
//!
//! ```ignore
//! let sc = Scenario::new()
//!     .registry()
//!     .image("demo/app:1.0", &app_image("1.0", MediaFormat::Oci))
//!     .pulled("demo/app:1.0")
//!     .policy("version: 1\nimages:\n  - name: {registry}/demo/app\n    tags: [\"1.0\"]\n");
//! let out = sc.run(&["apply", "-f", sc.policy_arg(), "--yes"]);
//! assert!(sc.probe().has(&sc.reference("demo/app:1.0")));
//! ```
//!
//! Signed multi-platform releases of `team/app` (`.release("1.0.0")`, read as
//! `sc.signed("1.0.0")`) are what the referrer tests replicate.
//!
//! A second registry is the copy or replication target (`.target()`, read as `sc.dst()`) or
//! the registry's mirror (`.mirrored()`, read as `sc.mirror()`, listed in `registries.yaml`).
//!
//! Images are pushed with plain HTTP, so the registry serves exactly the fixture's bytes
//! and digests (skopeo, which may rewrite a manifest, stays for format conversions).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use super::cli::{TestEnv, succeeded};
use super::fixtures::{
    FixtureImage, FixtureIndex, MediaFormat, Standard, app_image, push_image_http, push_index_http,
};
use super::output::RunExt as _;
use super::probe::StoreProbe;
use super::registry::Registry;
use super::signing::{self, Signed};

/// A registry (optional), a store and a policy (optional), built step by step.
pub struct Scenario {
    env: TestEnv,
    registry: Option<Registry>,
    /// The second registry: a copy or replication target, or a mirror.
    second: Option<Registry>,
    policy: Option<PathBuf>,
    config: Option<PathBuf>,
    fx: Option<Standard>,
    /// The digest the registry served for each `repo:tag` pushed here.
    digests: BTreeMap<String, String>,
    /// The signed releases of `team/app` pushed here, by version.
    signed: BTreeMap<String, Signed>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario::new()
    }
}

impl Scenario {
    /// An empty store (not created yet: imagectl creates it) and no registry.
    pub fn new() -> Scenario {
        Scenario {
            env: TestEnv::new(),
            registry: None,
            second: None,
            policy: None,
            config: None,
            fx: None,
            digests: BTreeMap::new(),
            signed: BTreeMap::new(),
        }
    }

    /// Starts an anonymous registry.
    pub fn registry(self) -> Self {
        self.with_registry(Registry::start())
    }

    /// Starts a registry that asks for basic auth `user:pass` (htpasswd).
    pub fn authenticated(self, user: &str, pass: &str) -> Self {
        self.with_registry(Registry::builder().htpasswd(user, pass).start())
    }

    /// Uses a registry started some other way (TLS, a proxy, a cache).
    pub fn with_registry(mut self, reg: Registry) -> Self {
        self.registry = Some(reg);
        self
    }

    /// Starts a second anonymous registry, the target of copies and replication.
    pub fn target(self) -> Self {
        self.with_target(Registry::start())
    }

    /// Uses a second registry started some other way as the target (authenticated, a cache).
    pub fn with_target(mut self, reg: Registry) -> Self {
        self.second = Some(reg);
        self
    }

    /// Starts a second anonymous registry and lists it as the registry's mirror.
    pub fn mirrored(self) -> Self {
        self.mirrored_by(Registry::start())
    }

    /// Lists `mirror` as the registry's mirror in `registries.yaml` ([`Scenario::config`]).
    pub fn mirrored_by(mut self, mirror: Registry) -> Self {
        self.second = Some(mirror);
        self.config("registries:\n  \"{registry}\":\n    mirrors: [\"{mirror_url}\"]\n")
    }

    /// Pushes `image` to the target as `repo:tag` (exact bytes).
    pub fn target_image(self, repo_and_tag: &str, image: &FixtureImage) -> Self {
        let (repo, tag) = split(repo_and_tag);
        push_image_http(self.dst(), repo, tag, image);
        self
    }

    /// Pushes `image` as `repo:tag` (exact bytes); the digest is `image.manifest_digest`.
    pub fn image(mut self, repo_and_tag: &str, image: &FixtureImage) -> Self {
        let (repo, tag) = split(repo_and_tag);
        let digest = push_image_http(self.reg(), repo, tag, image);
        self.digests.insert(repo_and_tag.to_string(), digest);
        self
    }

    /// Pushes a multi-platform `index` as `repo:tag` (exact bytes, every platform).
    pub fn index(mut self, repo_and_tag: &str, index: &FixtureIndex) -> Self {
        let (repo, tag) = split(repo_and_tag);
        let digest = push_index_http(self.reg(), repo, tag, index);
        self.digests.insert(repo_and_tag.to_string(), digest);
        self
    }

    /// Pushes signed release `v` of `team/app` (two platforms, a signature, an SBOM and a
    /// cosign tag: [`signing::release`]); read it back with [`Scenario::signed`].
    pub fn release(mut self, v: &str) -> Self {
        let signed = signing::release(self.reg(), v);
        self.digests
            .insert(format!("team/app:{v}"), signed.index.digest.clone());
        self.signed.insert(v.to_string(), signed);
        self
    }

    /// Pushes signed releases of `team/app` ([`Scenario::release`]) for each version.
    pub fn releases_signed(self, versions: &[&str]) -> Self {
        versions.iter().fold(self, |sc, v| sc.release(v))
    }

    /// What [`Scenario::release`] pushed for version `v`.
    pub fn signed(&self, v: &str) -> &Signed {
        self.signed
            .get(v)
            .unwrap_or_else(|| panic!("release {v} was not pushed by this scenario"))
    }

    /// Builds the standard fixtures ([`Standard`]: `app-v1`, `app-v2`, `multi`).
    pub fn standard(mut self) -> Self {
        self.fx = Some(Standard::new());
        self
    }

    /// Pushes the standard `app-v1` as `demo/app:1.0` (OCI, one platform): most tests' image.
    pub fn app(self) -> Self {
        self.oci("app-v1", "demo/app:1.0")
    }

    /// Pushes the standard fixture `ref_name` as `repo:tag`, OCI, one platform.
    pub fn oci(self, ref_name: &str, repo_and_tag: &str) -> Self {
        self.pushed(ref_name, repo_and_tag, MediaFormat::Oci, false)
    }

    /// Pushes the standard fixture `ref_name` (OCI, one platform) under each `repo:tag`.
    pub fn oci_each(self, ref_name: &str, names: &[&str]) -> Self {
        names.iter().fold(self, |sc, name| sc.oci(ref_name, name))
    }

    /// Pushes `app_image(v)` (OCI, a distinct image per version) as `repo:v` for each version.
    pub fn releases(self, repo: &str, versions: &[&str]) -> Self {
        versions.iter().fold(self, |sc, v| {
            sc.image(&format!("{repo}:{v}"), &app_image(v, MediaFormat::Oci))
        })
    }

    /// Pushes the standard fixture `ref_name` as `repo:tag` with skopeo, which converts to
    /// `format` and, without `all_platforms`, reduces an index to linux/amd64
    /// ([`Standard::push`]); builds the standard fixtures first if need be.
    pub fn pushed(
        mut self,
        ref_name: &str,
        repo_and_tag: &str,
        format: MediaFormat,
        all_platforms: bool,
    ) -> Self {
        let fx = self.fx.get_or_insert_with(Standard::new);
        let reg = self.registry.as_ref().expect("Scenario::registry() first");
        let digest = fx.push(reg, ref_name, repo_and_tag, format, all_platforms);
        self.digests.insert(repo_and_tag.to_string(), digest);
        self
    }

    /// The standard fixtures ([`Scenario::standard`] or a push of one must have come first).
    pub fn fx(&self) -> &Standard {
        self.fx.as_ref().expect("Scenario::standard() first")
    }

    /// The digest the registry served when `repo:tag` was pushed here.
    pub fn digest(&self, repo_and_tag: &str) -> String {
        self.digests
            .get(repo_and_tag)
            .unwrap_or_else(|| panic!("{repo_and_tag} was not pushed by this scenario"))
            .clone()
    }

    /// `imagectl pull -q REGISTRY/repo:tag` into the store, asserting it succeeded.
    pub fn pulled(self, repo_and_tag: &str) -> Self {
        self.ok(&["pull", "-q", &self.reference(repo_and_tag)]);
        self
    }

    /// Writes the policy file; `{registry}` and `{target}` stand for those registries'
    /// `HOST:PORT` (every placeholder: [`Scenario::config`]).
    pub fn policy(mut self, yaml: &str) -> Self {
        let yaml = self.fill(yaml);
        self.policy = Some(self.env.write_policy(&yaml));
        self
    }

    /// Writes `registries.yaml` (for `--config`) with `{registry}`, `{target}` (`HOST:PORT`),
    /// `{registry_url}`, `{mirror_url}` and `{dir}` (where [`Scenario::file`] writes) filled in.
    pub fn config(mut self, yaml: &str) -> Self {
        let yaml = self.fill(yaml);
        self.config = Some(self.write("registries.yaml", &yaml));
        self
    }

    /// Writes `text` to `name` below the scenario's temp dir (`{dir}` in a policy or config).
    pub fn file(self, name: &str, text: &str) -> Self {
        self.write(name, text);
        self
    }

    /// Writes `HOME/.docker/config.json` with basic auth `user:pass` for the registry.
    pub fn logged_in(self, user: &str, pass: &str) -> Self {
        self.env.docker_login(&self.reg().host(), user, pass);
        self
    }

    /// `yaml` with the registries' `{registry}`, `{registry_url}`, `{target}`,
    /// `{mirror_url}` and the scenario's `{dir}` filled in.
    fn fill(&self, yaml: &str) -> String {
        let dir = self.env.root.path().display().to_string();
        let mut yaml = yaml.replace("{dir}", &dir);
        if let Some(reg) = &self.registry {
            yaml = yaml.replace("{registry_url}", &reg.url());
            yaml = yaml.replace("{registry}", &reg.host());
        }
        if let Some(second) = &self.second {
            yaml = yaml.replace("{mirror_url}", &second.url());
            yaml = yaml.replace("{target}", &second.host());
        }
        yaml
    }

    /// The registry ([`Scenario::registry`] must have been called).
    pub fn reg(&self) -> &Registry {
        self.registry.as_ref().expect("Scenario::registry() first")
    }

    /// The target ([`Scenario::target`] must have been called).
    pub fn dst(&self) -> &Registry {
        self.second.as_ref().expect("Scenario::target() first")
    }

    /// The mirror ([`Scenario::mirrored`] must have been called).
    pub fn mirror(&self) -> &Registry {
        self.second.as_ref().expect("Scenario::mirrored() first")
    }

    /// The `registries.yaml` file ([`Scenario::config`] must have been called).
    pub fn config_path(&self) -> &Path {
        self.config.as_deref().expect("Scenario::config() first")
    }

    /// The store's directory and `HOME`.
    pub fn env(&self) -> &TestEnv {
        &self.env
    }

    /// The store's directory.
    pub fn store(&self) -> &Path {
        &self.env.store
    }

    /// `HOST:PORT/repo:tag` in the registry.
    pub fn reference(&self, repo_and_tag: &str) -> String {
        self.reg().reference(repo_and_tag)
    }

    /// The policy file ([`Scenario::policy`] must have been called).
    pub fn policy_path(&self) -> &Path {
        self.policy.as_deref().expect("Scenario::policy() first")
    }

    /// The policy file as a command argument.
    pub fn policy_arg(&self) -> &str {
        self.policy_path().to_str().expect("UTF-8 temp path")
    }

    /// Writes `text` to `name` below the scenario's temp dir; returns the path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.env.root.path().join(name);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `imagectl --store STORE` with the scenario's `HOME`; add arguments.
    pub fn imagectl(&self) -> assert_cmd::Command {
        self.env.imagectl()
    }

    /// Runs `imagectl ARGS`, whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.imagectl().args(args).capture()
    }

    /// Runs `imagectl ARGS`, asserting success; stdout then stderr.
    pub fn ok(&self, args: &[&str]) -> String {
        succeeded(&self.run(args))
    }

    /// What the store holds, read through imagectl's library.
    pub fn probe(&self) -> StoreProbe {
        StoreProbe::new(&self.env.store)
    }
}

fn split(repo_and_tag: &str) -> (&str, &str) {
    repo_and_tag
        .rsplit_once(':')
        .expect("repo:tag (a tag is needed to push)")
}
