//! The policy file's YAML shapes, as serde reads them: strict (unknown keys and nulls are
//! errors) and with source positions (`Spanned`) on everything validation may point at.
//! The doc comments here become the descriptions in `imagectl schema`.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// imagectl policy: the images a host must hold and how old ones are removed.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "imagectl policy")]
pub(crate) struct RawPolicy {
    /// Format version of this file. Must be 1.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "u32", range(min = 1, max = 1))]
    pub version: Option<Spanned<u32>>,
    /// Which store the policy manages (default: `--store`, `$IMAGECTL_STORE` or the user's data directory).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "RawStore")]
    pub store: Option<Spanned<RawStore>>,
    /// Per-registry settings, keyed by `host[:port]` (e.g. `docker.io`, `172.16.0.120:30002`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawRegistry>")]
    pub registries: Entries<RawRegistry>,
    /// Settings every image entry inherits.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "RawDefaults")]
    pub defaults: Option<Spanned<RawDefaults>>,
    /// The images that must be present.
    #[serde(default)]
    #[schemars(with = "Vec<RawImage>")]
    pub images: Vec<Spanned<RawImage>>,
    /// What `apply` may remove, and the limits on removing.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "RawPrune")]
    pub prune: Option<Spanned<RawPrune>>,
    /// When `imagectl run` applies the policy: a 5-field cron line such as `0 */6 * * *`.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub schedule: Option<Spanned<String>>,
    /// Registries to push every desired image to, digests preserved.
    #[serde(default)]
    #[schemars(with = "Vec<RawReplicate>")]
    pub replicate: Vec<Spanned<RawReplicate>>,
}

/// One replication target.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Replicate")]
pub(crate) struct RawReplicate {
    /// `HOST[:PORT][/PREFIX]`: `docker.io/library/nginx:1.25` lands at `HOST[:PORT]/PREFIX/library/nginx:1.25`.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub to: Option<Spanned<String>>,
    /// Platforms to push (`linux/amd64`); omitted: the whole image, every platform, with the source's digests.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub platforms: Vec<Spanned<String>>,
    /// Delete from the target the tags imagectl pushed there once the policy no longer wants them (default true). Tags imagectl did not push are never touched.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "bool", extend("default" = true))]
    pub prune: Option<Spanned<bool>>,
    /// Name of the ledger of pushed tags kept in the target (a tag of `PREFIX/imagectl-ledger`; default `default`). Runs with the same name, from any host or store, share what they pushed; give policies that replicate different image sets to one target different names.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String", extend("default" = "default"))]
    pub ledger: Option<Spanned<String>>,
    /// Carry each image's referrers (signatures, attestations, SBOMs: the OCI referrers API or the `sha256-<hex>` fallback tags, cosign's `.sig`/`.att` included) to the target (default true).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "bool", extend("default" = true))]
    pub referrers: Option<Spanned<bool>>,
}

/// The store to manage.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Store")]
pub(crate) struct RawStore {
    /// Absolute path of the embedded store (an OCI image layout directory).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub path: Option<Spanned<String>>,
    /// A Docker Engine instead: `docker: {}` (the Engine at `$DOCKER_HOST`, else
    /// unix:///var/run/docker.sock) or `docker: { host: unix:///run/docker.sock }`.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "RawDocker")]
    pub docker: Option<Spanned<RawDocker>>,
    /// containerd instead (a Kubernetes node): `containerd: {}` (the socket at
    /// `$CONTAINERD_ADDRESS`, else /run/containerd/containerd.sock; namespace k8s.io).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "RawContainerd")]
    pub containerd: Option<Spanned<RawContainerd>>,
}

/// The containerd to manage.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Containerd")]
pub(crate) struct RawContainerd {
    /// The socket (default: `$CONTAINERD_ADDRESS`, else /run/containerd/containerd.sock).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub address: Option<Spanned<String>>,
    /// The namespace (default: `$CONTAINERD_NAMESPACE`, else k8s.io, the kubelet's).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub namespace: Option<Spanned<String>>,
    /// Who pulls: `imagectl` (default: its own client, written into containerd as CRI
    /// writes a pull) or `cri` (CRI's PullImage, the kubelet's path; reads containerd's
    /// hosts.toml, not imagectl's registries).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String", regex(pattern = r"^(imagectl|cri)$"))]
    pub pull: Option<Spanned<String>>,
    /// Never remove an image younger than this (default 2m, the kubelet's
    /// `--minimum-image-ttl-duration`).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub min_age: Option<Spanned<String>>,
}

/// The Docker Engine to manage.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DockerEngine")]
pub(crate) struct RawDocker {
    /// The Engine's API socket: `unix:///PATH` or `tcp://HOST:PORT` (default: `$DOCKER_HOST`,
    /// else unix:///var/run/docker.sock).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub host: Option<Spanned<String>>,
    /// Who pulls: `imagectl` (default: its own client, with mirrors for every registry,
    /// streamed into the Engine) or `engine` (the Engine's own pull, with imagectl's
    /// credentials).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String", regex(pattern = r"^(imagectl|engine)$"))]
    pub pull: Option<Spanned<String>>,
}

/// The hands-on commands' configuration file (`--config`, default
/// `$XDG_CONFIG_HOME/imagectl/registries.yaml`): the `registries:` map of a policy and
/// nothing else.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "imagectl registries configuration")]
pub(crate) struct RawConfig {
    /// Per-registry settings, keyed by `host[:port]` (e.g. `docker.io`, `172.16.0.120:30002`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawRegistry>")]
    pub registries: Entries<RawRegistry>,
}

/// How to reach one registry. Passwords are never written inline.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Registry")]
pub(crate) struct RawRegistry {
    /// Mirrors tried in order before this registry for every pull (never for pushes):
    /// `https://host[:port][/path-prefix]` or `http://…`. A path prefix goes before the
    /// repository path (Harbor proxy-cache projects: `https://harbor.example/dockerhub`).
    /// A mirror's own credentials and TLS settings come from its own entry, if any.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub mirrors: Vec<Spanned<String>>,
    /// `true`: plain HTTP. `false`: HTTPS even for a loopback address. Unset: HTTPS, but
    /// plain HTTP for loopback addresses (as docker does).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "bool")]
    pub insecure: Option<Spanned<bool>>,
    /// `false`: HTTPS without checking the server's certificate (a lab registry with a
    /// self-signed certificate; prefer `ca_file`). Default `true`.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "bool", extend("default" = true))]
    pub tls_verify: Option<Spanned<bool>>,
    /// PEM file of extra CA certificates to trust for this registry (added to the system roots).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub ca_file: Option<Spanned<String>>,
    /// PEM file of the client certificate to present (mutual TLS); needs `client_key`.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub client_cert: Option<Spanned<String>>,
    /// PEM file of the client certificate's private key; needs `client_cert`.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub client_key: Option<Spanned<String>>,
    /// User name for basic auth; needs `password_env` or `password_file`.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub username: Option<Spanned<String>>,
    /// Name of the environment variable that holds the password or token.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String", regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub password_env: Option<Spanned<String>>,
    /// File that holds the password or token (a trailing newline is ignored).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub password_file: Option<Spanned<String>>,
    /// Refused: inline secrets end up in repositories and logs.
    #[serde(default, deserialize_with = "present")]
    #[schemars(skip)]
    pub password: Option<Location>,
}

/// Settings inherited by every image entry.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Defaults")]
pub(crate) struct RawDefaults {
    /// Platforms to pull (`os/arch[/variant]`, e.g. `linux/amd64`); empty means the host's.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub platforms: Vec<Spanned<String>>,
}

/// One repository and the tags of it that must be present.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Image")]
pub(crate) struct RawImage {
    /// Repository (`nginx`, `ghcr.io/org/app`), or a pinned digest (`busybox@sha256:…`). No tag: list tags under `tags`.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub name: Option<Spanned<String>>,
    /// Tags wanted by name.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub tags: Vec<Spanned<String>>,
    /// Also want the registry's tags matching this regular expression (whole tag).
    #[serde(default, rename = "match", deserialize_with = "some")]
    #[schemars(with = "String")]
    pub pattern: Option<Spanned<String>>,
    /// Also want the registry's tags whose version satisfies this range (e.g. `>=1.2, <2`).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub semver: Option<Spanned<String>>,
    /// Keep only the newest N selected tags.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "u32", range(min = 1))]
    pub keep: Option<Spanned<i64>>,
    /// How selected tags are ranked, newest first (default `semver`).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "RawOrder")]
    pub by: Option<Spanned<RawOrder>>,
    /// Platforms to pull for this image (default: `defaults.platforms`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub platforms: Vec<Spanned<String>>,
    /// Further names for the image (`registry.local/base/busybox:stable`). Needs a digest pin or exactly one tag.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub also_tag: Vec<Spanned<String>>,
}

/// Ranking of selected tags.
#[derive(Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "Order")]
pub(crate) enum RawOrder {
    /// By version number.
    Semver,
    /// By image creation time.
    Created,
    /// Reverse alphabetical (date-stamped tags).
    Name,
}

/// Removal rules.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Prune")]
pub(crate) struct RawPrune {
    /// Remove untagged images and unreferenced blobs (default true).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "bool", extend("default" = true))]
    pub dangling: Option<Spanned<bool>>,
    /// `keep` (default) or `remove` images no entry declares.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "RawUnmanaged")]
    pub unmanaged: Option<Spanned<RawUnmanaged>>,
    /// Never remove what was pulled or used this recently: `72h`, `3d`, `90m`, `1h30m`.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String", regex(pattern = r"^(\d+[wdhms])+$"))]
    pub keep_within: Option<Spanned<String>>,
    /// Evict least recently used images above this store size (`20GiB`, `500MB`).
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "String")]
    pub max_disk: Option<Spanned<String>>,
    /// Refuse a run that would remove more than this many images (default 50), or `unlimited`.
    #[serde(default, deserialize_with = "some")]
    #[schemars(with = "RawLimitSchema", extend("default" = 50))]
    pub max_removals: Option<Spanned<RawLimit>>,
}

/// What happens to images no entry declares.
#[derive(Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "Unmanaged")]
pub(crate) enum RawUnmanaged {
    /// Leave them alone.
    Keep,
    /// Remove them.
    Remove,
}

/// A count, or the word `unlimited`.
pub(crate) enum RawLimit {
    Count(u64),
    Word(String),
}

impl<'de> Deserialize<'de> for RawLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawLimit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number or `unlimited`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawLimit, E> {
                Ok(RawLimit::Count(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawLimit, E> {
                u64::try_from(v)
                    .map(RawLimit::Count)
                    .map_err(|_| E::custom("expected a whole number ≥ 0 or `unlimited`"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawLimit, E> {
                Ok(RawLimit::Word(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Schema stand-in for [`RawLimit`].
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
#[schemars(rename = "MaxRemovals")]
pub(crate) enum RawLimitSchema {
    /// At most this many removals per run.
    Count(u32),
    /// No limit.
    Word(UnlimitedWord),
}

/// The word `unlimited`.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
#[schemars(rename = "Unlimited")]
pub(crate) enum UnlimitedWord {
    /// No limit.
    Unlimited,
}

/// A mapping kept in source order with the position of every key (serde maps drop both).
pub(crate) struct Entries<V>(pub Vec<(Spanned<String>, Spanned<V>)>);

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Entries(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = Entries<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of registry host to settings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}

/// For `Option` fields: absent is `None`, but an explicit null is an error (the value's own
/// type refuses it) rather than silently meaning "absent".
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// For keys that are refused whatever their value: records where the key was written.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Location>, D::Error> {
    Spanned::<IgnoredAny>::deserialize(d).map(|s| Some(s.referenced))
}
