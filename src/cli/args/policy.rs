//! Arguments of the policy commands: validate, plan, diff, apply and run.

use std::path::PathBuf;

use clap::Args;

use super::output::OutputArg;

/// Where the policy is: shared by validate, plan and apply.
#[derive(Debug, Args)]
pub struct PolicyFile {
    /// A policy file or a directory of *.yaml files.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "PATH",
        default_value = "imagectl.yaml"
    )]
    pub file: PathBuf,
}

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub policy: PolicyFile,
    /// The plan as JSON (stable; see README). Same as --format json.
    #[arg(long)]
    pub json: bool,
    /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// `text`, `json` or `markdown` (a pull-request comment).
    #[arg(long = "format", value_enum, default_value_t, value_name = "FORMAT")]
    pub format: ReviewFormat,
    /// Plan against the store state a host reported in its run report (`imagectl run`'s
    /// last-run.json, `apply --report`) instead of a store; repeat for several hosts.
    /// Reads nothing but the report and the registries, writes nothing.
    #[arg(long = "state", value_name = "REPORT")]
    pub state: Vec<PathBuf>,
    /// Plan replication without referrers (signatures, attestations, SBOMs): none are
    /// looked up at the sources, as `apply --no-referrers` carries none.
    #[arg(long)]
    pub no_referrers: bool,
}

/// Arguments of `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The policy before the change (file or directory, e.g. the base branch's checkout).
    pub old: PathBuf,
    /// The policy after it.
    pub new: PathBuf,
    /// Also plan the new policy against the store state these hosts reported, warning
    /// when it would remove more than max_removals there or drop an image in use there.
    #[arg(long = "state", value_name = "REPORT")]
    pub state: Vec<PathBuf>,
    /// `text`, `json` or `markdown` (a pull-request comment).
    #[arg(long = "format", value_enum, default_value_t, value_name = "FORMAT")]
    pub format: ReviewFormat,
}

/// `--format` of the commands a review reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReviewFormat {
    /// Lines for a terminal.
    #[default]
    Text,
    /// One JSON document (see the README's *JSON output*).
    Json,
    /// A pull-request comment: counts, warnings, removals, then folded detail.
    Markdown,
}

/// `--format` of `validate`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ValidateFormat {
    /// `error:` lines on stderr.
    #[default]
    Text,
    /// One JSON document.
    Json,
    /// GitHub Actions annotations (`::error file=…,line=…,col=…::…`) on stdout.
    Github,
}

/// Arguments of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub policy: PolicyFile,
    /// Show the plan and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply without asking. Without a terminal (CI, timers, cron) nobody can be asked,
    /// so apply changes nothing unless --yes is given.
    #[arg(short, long)]
    pub yes: bool,
    /// Replicate images without their referrers (signatures, attestations, SBOMs), whatever
    /// the policy's `replicate[].referrers` says.
    #[arg(long)]
    pub no_referrers: bool,
    /// The plan and the outcome as JSON. Same as --format json.
    #[arg(long)]
    pub json: bool,
    /// Text or JSON.
    #[command(flatten)]
    pub output: OutputArg,
    /// Also write the run report (JSON, see README) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Also write Prometheus metrics of the run to PATH, atomically, in the format of
    /// node_exporter's textfile collector (a `*.prom` file in its directory).
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
}

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub policy: PolicyFile,
    /// When to run: a cron line (5 fields, or @hourly/@daily; a leading seconds field is
    /// accepted here for short loops). Default: the policy's `schedule:`.
    #[arg(long, value_name = "CRON")]
    pub schedule: Option<String>,
    /// Time zone of the schedule (e.g. Europe/Paris). Default: $TZ, else the system's.
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// Run each tick up to this late, at an offset fixed per host (machine ID and store),
    /// so a fleet on one schedule spreads its requests and a restart keeps a host's slot.
    /// The first run after start waits for the offset too.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration_arg)]
    pub jitter: std::time::Duration,
    /// Run once now (no schedule, no jitter) and exit: 0 if everything was done, else 1.
    #[arg(long)]
    pub once: bool,
    /// After a failed run, try again this soon (doubling per failure in a row, up to
    /// --max-backoff, never later than the next scheduled run).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration_arg)]
    pub backoff: std::time::Duration,
    /// The longest wait after failures.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration_arg)]
    pub max_backoff: std::time::Duration,
    /// Serve `/metrics` (Prometheus) and `/healthz` on ADDR, e.g. 127.0.0.1:9471.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Write Prometheus metrics to PATH after each run, atomically (node_exporter's
    /// textfile collector format).
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// Write each run's report (JSON, see README) to FILE; the latest is also kept in the
    /// store's state directory for `imagectl status`.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Replicate images without their referrers (signatures, attestations, SBOMs), whatever
    /// the policy's `replicate[].referrers` says.
    #[arg(long)]
    pub no_referrers: bool,
}

/// `30s`, `5m`, `1h30m` as a duration.
fn duration_arg(s: &str) -> Result<std::time::Duration, String> {
    let d = crate::policy::parse_duration(s)?;
    std::time::Duration::try_from(d)
        .map_err(|_| format!("{s:?} is negative: give a duration such as 30s"))
}
