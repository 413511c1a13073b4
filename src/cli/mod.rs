//! The command line: argument parsing, one handler file per command group, and output.
//! The only place that uses `anyhow`: handlers add the context a user needs and `main`
//! prints the chain as one line.

mod apply;
mod archive;
mod args;
mod config;
mod copy;
mod discover;
mod edit;
mod format;
mod images;
mod inspect;
mod login;
mod maintenance;
mod progress;
mod pull;
mod registries;
mod review;
mod run;
mod save_referrers;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser};

pub use args::{Cli, Command, ConfigCommand};

use crate::registry::RegistryClient;
use crate::store::{self, ImageStore, PullPath, StoreSpec};

/// Parse the command line, run the command, and turn the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(
        cli.verbose,
        cli.log_format,
        matches!(cli.command, Command::Run(_)),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error chain as one line, without repeating a cause its parent already quotes.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out.replace('\n', " ")
}

/// The most the HTTP stack may log, whatever `RUST_LOG` asks for (these only lower levels,
/// never raise them; targets match by prefix, so `hyper` covers `hyper_util`): reqwest's
/// connection-verbose log dumps raw request bytes, headers included, at trace, and hyper
/// and h2 trace per message and frame. Their debug logs (connects, pooling) name hosts only.
fn secret_safe_caps() -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::LevelFilter;
    tracing_subscriber::filter::Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("reqwest::connect::verbose", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::DEBUG)
        .with_target("h2", LevelFilter::DEBUG)
}

/// Logs on stderr. The daemon logs each run and action at info by default: its stderr is
/// the journal.
fn init_tracing(verbose: u8, format: args::LogFormat, daemon: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let default = match (verbose, daemon) {
        (0, false) => "warn",
        (0, true) | (1, _) => "warn,imagectl=info",
        _ => "warn,imagectl=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // An event is logged only if both the user's filter and the caps let it through: the
    // `Authorization` header (passwords, tokens) never reaches a log.
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(secret_safe_caps());
    // Colours only for a person at a terminal: never into the journal or a log file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    match format {
        args::LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_target(false)
                    .with_ansi(ansi)
                    .without_time(),
            )
            .init(),
        args::LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_target(false),
            )
            .init(),
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Pull(args) => pull::run(&cli, args).await,
        Command::Images(args) => images::run(&cli, args).await,
        Command::Copy(args) => copy::run(&cli, args).await,
        Command::Push(args) => copy::push(&cli, args).await,
        Command::Tag {
            source,
            target,
            output,
        } => edit::tag(&cli, source, target, output.json()).await,
        Command::Rmi {
            force,
            images,
            output,
        } => edit::rmi(&cli, images, *force, output.json()).await,
        Command::Inspect { format, images } => {
            inspect::inspect(&cli, images, format.as_deref()).await
        }
        Command::History {
            no_trunc,
            format,
            quiet,
            image,
        } => inspect::history(&cli, image, *no_trunc, *quiet, format.as_deref()).await,
        Command::Save(args) => archive::save(&cli, args).await,
        Command::Load(args) => archive::load(&cli, args).await,
        Command::Df { format } => maintenance::df(&cli, cli.verbose > 0, format.as_deref()).await,
        Command::Prune { all, force, output } => {
            maintenance::prune(&cli, *all, *force, output.json()).await
        }
        Command::Fsck { output } => maintenance::fsck(&cli, output.json()).await,
        Command::Validate { policy, format } => validate::validate(&policy.file, *format),
        Command::Schema => validate::schema(),
        Command::Plan(args) => apply::plan(&cli, args).await,
        Command::Diff(args) => review::diff(&cli, args).await,
        Command::Apply(args) => apply::apply(&cli, args).await,
        Command::Run(args) => run::run(&cli, args).await,
        Command::Status { file, output } => run::status(&cli, file.as_deref(), output.json()).await,
        Command::Tags(args) => discover::tags(&cli, args).await,
        Command::Search(args) => discover::search(&cli, args).await,
        Command::Login(args) => login::login(&cli, args).await,
        Command::Logout { registry, output } => login::logout(registry.as_deref(), output.json()),
        Command::Config(ConfigCommand::ImportDocker { file }) => config::import_docker(file),
        Command::Config(ConfigCommand::Check { file, output }) => {
            config::check(&cli, file.as_deref(), output.json())
        }
        Command::Manpages { dir } => manpages(dir),
        Command::Completions { shell } => {
            // Rendered first, then written: a closed pipe (`| head`) is then an ordinary
            // write error, which ends the command quietly.
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "imagectl", &mut script);
            match std::io::Write::write_all(&mut std::io::stdout().lock(), &script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(e).context("writing to stdout")
                }
                _ => Ok(ExitCode::SUCCESS),
            }
        }
    }
}

/// One roff page per command and subcommand, from the same clap definitions as `--help`,
/// so the pages cannot drift from the binary.
fn manpages(dir: &std::path::Path) -> Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("writing man pages to {}", dir.display()))?;
    let mut pages: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("imagectl") && n.ends_with(".1"))
        .collect();
    pages.sort();
    eprintln!(
        "wrote {} man pages to {} (imagectl.1, imagectl-pull.1, …)",
        pages.len(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The store: `--store`, `$IMAGECTL_STORE`, else `policy` (a policy's `store:`), else the
/// embedded store in the user's data directory.
fn store_spec(cli: &Cli, policy: Option<&StoreSpec>) -> Result<StoreSpec> {
    let spec = match (&cli.store, policy) {
        (Some(s), _) => StoreSpec::parse(s),
        (None, Some(p)) => p.clone(),
        (None, None) => dirs::data_dir()
            .map(|d| StoreSpec::Embedded(d.join("imagectl")))
            .context(
                "no data directory is known for this user: pass --store DIR or set IMAGECTL_STORE",
            )?,
    };
    Ok(match (spec, cli.docker_pull, cli.containerd_pull) {
        (StoreSpec::Docker(host, _), Some(path), _) => StoreSpec::Docker(
            host,
            match path {
                args::DockerPull::Imagectl => PullPath::Imagectl,
                args::DockerPull::Engine => PullPath::Engine,
            },
        ),
        (StoreSpec::Containerd(mut c), _, Some(path)) => {
            c.pull = match path {
                args::ContainerdPull::Imagectl => PullPath::Imagectl,
                args::ContainerdPull::Cri => PullPath::Engine,
            };
            StoreSpec::Containerd(c)
        }
        (spec, _, _) => spec,
    })
}

async fn open_store(cli: &Cli) -> Result<Arc<dyn ImageStore>> {
    Ok(store::open(&store_spec(cli, None)?).await?)
}

/// The embedded store's directory when that is the store in use (copy reads blobs it holds).
fn store_path(cli: &Cli) -> Option<PathBuf> {
    match store_spec(cli, None).ok()? {
        StoreSpec::Embedded(p) => Some(p),
        StoreSpec::Docker(..) | StoreSpec::Containerd(_) => None,
    }
}

/// A client configured from the registries config file and `--insecure-registry`.
fn registry_client(cli: &Cli) -> Result<RegistryClient> {
    Ok(RegistryClient::new(registries::client_config(cli, None)?)?)
}
