//! The command line, as clap definitions: the global options and the subcommands here,
//! the policy commands' arguments in `policy`, the shared `--format text|json` in `output`.

mod output;
mod policy;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use output::OutputArg;
pub use policy::{
    ApplyArgs, DiffArgs, PlanArgs, PolicyFile, ReviewFormat, RunArgs, ValidateFormat,
};

/// Keeps container images on hosts and in registries the way a policy file says.
#[derive(Debug, Parser)]
#[command(name = "imagectl", version, about, propagate_version = true)]
pub struct Cli {
    /// The image store: a directory (the embedded OCI image layout), `docker` (the Docker
    /// Engine at $DOCKER_HOST, else unix:///var/run/docker.sock), `docker:HOST`
    /// (docker:unix:///PATH, docker:tcp://HOST:PORT), `containerd` (the socket at
    /// $CONTAINERD_ADDRESS, else /run/containerd/containerd.sock; namespace
    /// $CONTAINERD_NAMESPACE, else k8s.io) or `containerd:SOCKET`.
    /// Default: $XDG_DATA_HOME/imagectl, i.e. ~/.local/share/imagectl.
    #[arg(
        long,
        global = true,
        env = "IMAGECTL_STORE",
        value_name = "DIR|docker[:HOST]|containerd[:SOCKET]"
    )]
    pub store: Option<String>,
    /// Who pulls into a Docker Engine store: imagectl's own client (default; mirrors for
    /// every registry, one HEAD per unchanged tag) or the Engine's own pull.
    #[arg(
        long,
        global = true,
        env = "IMAGECTL_DOCKER_PULL",
        value_enum,
        value_name = "WHO"
    )]
    pub docker_pull: Option<DockerPull>,
    /// Who pulls into a containerd store: imagectl's own client (default; written as CRI
    /// writes a pull) or CRI's PullImage (the kubelet's path; reads containerd's hosts.toml).
    #[arg(
        long,
        global = true,
        env = "IMAGECTL_CONTAINERD_PULL",
        value_enum,
        value_name = "WHO"
    )]
    pub containerd_pull: Option<ContainerdPull>,
    /// More detail on stderr (-v: which endpoint served what and transfer counters; -vv: every request).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// A registry to reach over plain HTTP (loopback registries are, unless configured
    /// with TLS settings). Repeatable.
    #[arg(long = "insecure-registry", global = true, value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Registries config file (mirrors, TLS, credentials per registry).
    /// Default: $XDG_CONFIG_HOME/imagectl/registries.yaml, if it exists.
    #[arg(long, global = true, env = "IMAGECTL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log lines as text, or as one JSON object per line (journald, Loki).
    #[arg(
        long,
        global = true,
        env = "IMAGECTL_LOG_FORMAT",
        value_enum,
        default_value_t,
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines on stderr look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `LEVEL message key=value`.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields` (with `message`).
    Json,
}

/// Who pulls into a Docker Engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DockerPull {
    /// imagectl's registry client, streamed into the Engine.
    Imagectl,
    /// The Engine's own pull.
    Engine,
}

/// Who pulls into containerd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ContainerdPull {
    /// imagectl's registry client, written into containerd as CRI would.
    Imagectl,
    /// CRI's PullImage.
    Cri,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pull images from registries into the store.
    Pull(PullArgs),
    /// List images in the store.
    #[command(visible_alias = "ls")]
    Images(ImagesArgs),
    /// Give an image another name: SOURCE (name or ID) gets TARGET.
    Tag {
        /// An image name or ID in the store.
        source: String,
        /// The new name, e.g. registry.local/base/busybox:stable.
        target: String,
        /// Text or JSON.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Remove names from images and delete images whose last name went.
    #[command(visible_alias = "rm")]
    Rmi {
        /// Remove an image that has several names by ID, all names at once.
        #[arg(short, long)]
        force: bool,
        /// Names, IDs or ID prefixes.
        #[arg(required = true)]
        images: Vec<String>,
        /// Text or JSON.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Copy an image from one registry to another, digests preserved (registry to
    /// registry; blobs the store holds are read from disk).
    Copy(CopyArgs),
    /// Push an image of the store to a registry (under DST, or under its own name).
    /// Docker schema2 images are stored as OCI, so they are pushed as OCI with a new
    /// digest; `copy` preserves digests registry to registry.
    Push(PushArgs),
    /// Show low-level information about images as JSON (docker's field names).
    Inspect {
        /// Format each image with a Go template, e.g. '{{.Id}}' or '{{json .Config}}'.
        #[arg(short, long)]
        format: Option<String>,
        /// Names or IDs.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Show how an image was built, layer by layer.
    History {
        /// Do not truncate the output.
        #[arg(long)]
        no_trunc: bool,
        /// Format each row with a Go template, or `json`.
        #[arg(long)]
        format: Option<String>,
        /// Show only image IDs.
        #[arg(short, long)]
        quiet: bool,
        /// Name or ID.
        image: String,
    },
    /// Write images to a tar archive that `docker load`, `podman load` and `imagectl load`
    /// read (docker-archive by default; `--format oci` for an OCI layout).
    Save(SaveArgs),
    /// Load images from a docker-archive or OCI layout tar (plain, gzip, zstd, xz or bzip2).
    Load(LoadArgs),
    /// Show disk usage of the store (with -v: per image, shared and unique size).
    Df {
        /// `json`, or a Go template.
        #[arg(long)]
        format: Option<String>,
    },
    /// Remove dangling images and blobs no image references.
    Prune {
        /// Remove every image no container uses, not only dangling ones (the embedded
        /// store has no containers: there, every image).
        #[arg(short, long)]
        all: bool,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        force: bool,
        /// Text or JSON.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Verify every blob's digest and that every image is complete.
    Fsck {
        /// Text or JSON.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Check policy files: syntax, unknown keys, and meaning (regexes, ranges, platforms,
    /// schedule). Reports every error at once as FILE:LINE:COLUMN; exit 1 if any.
    Validate {
        /// The policy.
        #[command(flatten)]
        policy: PolicyFile,
        /// `text`, `json`, or `github` (annotations on the files in a pull request).
        #[arg(long = "format", value_enum, default_value_t, value_name = "FORMAT")]
        format: ValidateFormat,
    },
    /// Print the JSON Schema of the policy format (for editors' YAML language servers).
    Schema,
    /// Show what `apply` would do: pulls, retags, removals, with sizes.
    Plan(PlanArgs),
    /// Show what a change of the policy does: names newly wanted (with digests and
    /// sizes), no longer wanted, moved, and changed settings. Exit 0: no change, 2: changes,
    /// 1: error.
    Diff(DiffArgs),
    /// Make the store match the policy: pull, retag, remove, prune.
    Apply(ApplyArgs),
    /// Apply the policy periodically: re-read it, plan and apply on a cron schedule, with
    /// metrics and a report of every run.
    Run(RunArgs),
    /// Show the last run of `imagectl run` on the store: when, result, changes, failures,
    /// next run.
    Status {
        /// A policy whose `store:` names the store (else --store and its default).
        #[arg(short = 'f', long = "file", value_name = "PATH")]
        file: Option<PathBuf>,
        /// Text, or the run report as JSON.
        #[command(flatten)]
        output: OutputArg,
    },
    /// List a repository's tags in its registry (every page).
    Tags(TagsArgs),
    /// Find repositories: Docker Hub's search for docker.io, the registry's catalog elsewhere
    /// (`imagectl search 127.0.0.1:5000/app`).
    Search(SearchArgs),
    /// Check credentials against a registry and store them where docker keeps them
    /// (config.json, or its credsStore/credHelpers helper).
    Login(LoginArgs),
    /// Remove a registry's stored credentials.
    Logout {
        /// The registry (`host[:port]`); Docker Hub when omitted.
        registry: Option<String>,
        /// Text or JSON.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Registries configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Write a man page per command (imagectl.1, imagectl-pull.1, …) into DIR, e.g.
    /// `sudo imagectl manpages /usr/local/share/man/man1`, then `man imagectl-pull`.
    Manpages {
        /// The directory (created if missing), usually a man1 directory on MANPATH.
        dir: PathBuf,
    },
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// Subcommands of `config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the registries.yaml equivalent of docker's daemon.json (registry-mirrors,
    /// insecure-registries) to stdout.
    ImportDocker {
        /// docker's daemon.json.
        #[arg(default_value = "/etc/docker/daemon.json")]
        file: PathBuf,
    },
    /// Check a registries config file (default: the one other commands read) and print
    /// every problem as FILE:LINE:COLUMN; exit 1 if there is one. For CI on a config repo.
    Check {
        /// The file; default: --config, $IMAGECTL_CONFIG, else
        /// $XDG_CONFIG_HOME/imagectl/registries.yaml.
        file: Option<PathBuf>,
        /// Text or JSON.
        #[command(flatten)]
        output: OutputArg,
    },
}

/// Arguments of `pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Images to pull: name[:tag] or name@sha256:digest.
    #[arg(required = true)]
    pub images: Vec<String>,
    /// The platform to take from a multi-platform image (default: this host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Keep every platform of a multi-platform image (and the index itself).
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,
    /// Print only the names pulled.
    #[arg(short, long)]
    pub quiet: bool,
    /// Blob downloads in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Text or JSON.
    #[command(flatten)]
    pub output: OutputArg,
}

/// Arguments of `copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The image to copy: registry/name[:tag] or name@sha256:digest.
    pub source: String,
    /// Where to: registry/name[:tag]; without a tag, SOURCE's tag.
    pub target: String,
    /// Copy only this platform of a multi-platform image (repeatable). One platform: its
    /// manifest, digest preserved. Several: an index of just those (a new digest).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Vec<String>,
    /// Copy every platform and the index itself (the default; for scripts that say so).
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,
    /// Also copy the image's referrers (signatures, attestations, SBOMs of the index and
    /// each platform manifest), from the referrers API or the `sha256-<hex>` fallback tags.
    #[arg(long)]
    pub referrers: bool,
    /// Text or JSON.
    #[command(flatten)]
    pub output: OutputArg,
}

/// Arguments of `push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// A name or ID in the store.
    pub image: String,
    /// Where to: registry/name[:tag]; without a tag, IMAGE's tag. Default: IMAGE's name.
    pub target: Option<String>,
    /// Also push the image's referrers (signatures, attestations, SBOMs): those the store
    /// keeps (loaded from an archive), else from the registry IMAGE names, when it holds
    /// the image with the digest pushed.
    #[arg(long)]
    pub referrers: bool,
    /// Text or JSON.
    #[command(flatten)]
    pub output: OutputArg,
}

/// Arguments of `images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only images of this repository (and tag): `nginx`, `nginx:1.25`, `localhost:5000/app`.
    pub reference: Option<String>,
    /// Show all images (accepted for docker's sake: imagectl lists every image anyway).
    #[arg(short, long)]
    pub all: bool,
    /// Only image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show the digest each name was pulled by.
    #[arg(long)]
    pub digests: bool,
    /// Do not truncate IDs.
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter: dangling=true|false, reference=PATTERN (`*` matches within a path segment).
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// `json`, `table TEMPLATE`, or a Go template such as '{{.Repository}}:{{.Tag}}'.
    #[arg(long)]
    pub format: Option<String>,
}

/// Archive layouts `save` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchiveFormat {
    /// `docker save`'s layout (manifest.json, uncompressed layers): docker load, podman load.
    Docker,
    /// An OCI image layout (index.json, blobs/sha256): skopeo oci-archive:, docker ≥ 25.
    Oci,
}

/// Compression of a saved archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressArg {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
    /// xz (slow; for procedures that require it).
    Xz,
    /// bzip2.
    Bzip2,
}

/// Arguments of `save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to FILE instead of stdout (created only when the save succeeds).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The archive layout.
    #[arg(long, value_enum, default_value_t = ArchiveFormat::Docker)]
    pub format: ArchiveFormat,
    /// Compression (default: from the -o extension .tar.gz/.tgz/.tar.zst/.tar.xz/.tar.bz2, else none).
    #[arg(long, value_enum)]
    pub compress: Option<CompressArg>,
    /// Of a multi-platform image, save this platform (docker format default: this host's;
    /// OCI format default: every stored platform, with the index).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Also write each image's referrers (signatures, attestations, SBOMs: manifests whose
    /// `subject` is the image or one of its platform manifests), OCI format only: those the
    /// store keeps, else fetched from the registry the image's name points at.
    #[arg(long)]
    pub referrers: bool,
    /// Names, IDs or ID prefixes; layers shared between them are written once.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// Arguments of `load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from FILE instead of stdin.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Print nothing but the `Loaded image` lines.
    #[arg(short, long)]
    pub quiet: bool,
    /// Text or JSON.
    #[command(flatten)]
    pub output: OutputArg,
}

/// Arguments of `tags`.
#[derive(Debug, Args)]
pub struct TagsArgs {
    /// The repository: `nginx`, `quay.io/org/app`, `127.0.0.1:5000/app`.
    pub repository: String,
    /// `json` (`{"name": …, "tags": […]}`), or a Go template over {{.Name}} {{.Tag}}.
    #[arg(long)]
    pub format: Option<String>,
    /// Also list the tags that hold referrers rather than images: the fallback schema's
    /// `sha256-<hex>` indexes and cosign's `sha256-<hex>.sig`/`.att`/`.sbom`.
    #[arg(short, long)]
    pub all: bool,
}

/// Arguments of `search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// `TERM` (Docker Hub) or `REGISTRY/TERM`.
    pub term: String,
    /// At most this many results.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub limit: u16,
    /// Do not truncate descriptions.
    #[arg(long)]
    pub no_trunc: bool,
    /// `json`, `table TEMPLATE`, or a Go template over {{.Name}} {{.Description}}
    /// {{.StarCount}} {{.IsOfficial}} {{.IsAutomated}}.
    #[arg(long)]
    pub format: Option<String>,
}

/// Arguments of `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry (`host[:port]`); Docker Hub when omitted.
    pub registry: Option<String>,
    /// The account (asked for on a terminal when omitted).
    #[arg(short, long)]
    pub username: Option<String>,
    /// The password or token. Visible to other users in the process list: prefer
    /// --password-stdin.
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password or token from stdin (one line).
    #[arg(long)]
    pub password_stdin: bool,
    /// Text or JSON.
    #[command(flatten)]
    pub output: OutputArg,
}
