//! `imagectl run`: the level-based loop. Each tick re-reads the policy (keeping the last
//! good one when the new one does not load), re-observes the store, plans and applies
//! exactly as `apply` does, then writes the run report and metrics. Ticks follow the cron
//! line plus a per-host offset; failed runs are retried sooner with backoff. SIGTERM and
//! SIGINT abandon the current run (every store write is atomic: what was done stays, a
//! half-downloaded image is never visible) and exit 0; SIGHUP re-reads and runs now.

mod http;
mod lock;
pub(super) mod record;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use sha2::Digest as _;
use tokio::signal::unix::{SignalKind, signal};

pub(super) use status::status;

use super::apply::{Planned, carry_out, policy_store_spec, prepare_in};
use super::args::{Cli, RunArgs};
use crate::policy::{Policy, load};
use crate::report::{Metrics, PolicyStatus, RunReport, RunResult};
use crate::schedule::{Schedule, backoff, host_offset};
use crate::store::{self, ImageStore, StoreSpec};
use record::RunParts;

/// The daemon's last report, in the store's state directory.
pub(super) const LAST_RUN: &str = "last-run.json";

/// The policy applied now and what became of the latest attempt to read it.
struct PolicyState {
    path: PathBuf,
    good: Policy,
    fingerprint: String,
    generation: u64,
    load_errors: Vec<String>,
}

impl PolicyState {
    fn status(&self, schedule: Option<&Schedule>) -> PolicyStatus {
        PolicyStatus {
            path: self.path.display().to_string(),
            generation: self.generation,
            load_failed: !self.load_errors.is_empty(),
            load_errors: self.load_errors.clone(),
            schedule: schedule.map(|s| s.line().to_string()),
        }
    }

    /// Read the policy again. A policy that does not load, or names another store, leaves
    /// the last good one applied and says so.
    fn reload(&mut self, cli: &Cli, store_spec: &StoreSpec, metrics: &Metrics) {
        let errors = match load(&self.path) {
            Ok(policy) => match policy_store_spec(cli, &policy) {
                Ok(spec) if &spec == store_spec => {
                    let fp = fingerprint(&policy);
                    if fp != self.fingerprint {
                        self.generation += 1;
                        self.fingerprint = fp;
                        self.good = policy;
                        tracing::info!(
                            generation = self.generation,
                            policy = %self.path.display(),
                            "policy changed: now generation {}",
                            self.generation
                        );
                    }
                    Vec::new()
                }
                Ok(spec) => vec![format!(
                    "store: the policy now names {spec:?} instead of {store_spec:?}: restart imagectl run to switch stores"
                )],
                Err(e) => vec![super::one_line(&e)],
            },
            Err(errors) => errors.0.iter().map(|e| e.to_string()).collect(),
        };
        if errors.is_empty() {
            self.load_errors.clear();
            metrics.policy_loaded(self.generation);
        } else {
            for e in &errors {
                tracing::error!(policy = %self.path.display(), error = %e, "policy does not load: {e}");
            }
            tracing::warn!(
                generation = self.generation,
                "keeping the last good policy (generation {}) until {} loads again",
                self.generation,
                self.path.display()
            );
            self.load_errors = errors;
            metrics.policy_failed();
        }
    }
}

/// Identifies a policy's content: a new generation starts when it changes.
fn fingerprint(policy: &Policy) -> String {
    hex::encode(sha2::Sha256::digest(format!("{policy:?}").as_bytes()))
}

/// When ticks happen.
struct Timing {
    schedule: Option<Schedule>,
    from_flag: bool,
    tz: TimeZone,
    offset: Duration,
    backoff: Duration,
    max_backoff: Duration,
    failures_in_row: u32,
}

impl Timing {
    fn next(&self, now: Timestamp) -> Result<Timestamp> {
        let schedule = self
            .schedule
            .as_ref()
            .context("no schedule: set `schedule:` in the policy or pass --schedule CRON")?;
        let offset = SignedDuration::try_from(self.offset)?;
        let scheduled = schedule.next_after(now - offset, &self.tz)? + offset;
        if self.failures_in_row == 0 {
            return Ok(scheduled);
        }
        let wait = backoff(self.failures_in_row, self.backoff, self.max_backoff);
        let retry = now + SignedDuration::try_from(wait)?;
        Ok(retry.min(scheduled))
    }

    /// Follow the policy's schedule unless --schedule overrides it.
    fn follow(&mut self, policy: &Policy) -> Result<()> {
        if !self.from_flag {
            self.schedule = policy
                .schedule
                .as_deref()
                .map(|s| Schedule::parse(s, false))
                .transpose()?;
        }
        Ok(())
    }
}

fn time_zone(name: Option<&str>) -> Result<TimeZone> {
    match name {
        Some(n) => TimeZone::get(n).with_context(|| {
            format!("--timezone {n:?} is not a known time zone: give an IANA name such as Europe/Paris or UTC")
        }),
        None => Ok(TimeZone::system()),
    }
}

pub(super) async fn run(cli: &Cli, args: &RunArgs) -> Result<ExitCode> {
    let path = args.policy.file.clone();
    let Some(first) = super::apply::load_policy(&path)? else {
        bail!(
            "the policy {} does not load (errors above): fix it before starting imagectl run",
            path.display()
        );
    };
    let store_spec = policy_store_spec(cli, &first)?;
    let store = store::open(&store_spec).await?;
    let state_dir = store.state_dir();
    let _lock = lock::acquire(&state_dir, &store.location())?;
    let metrics = Arc::new(Metrics::new());
    let mut timing = Timing {
        schedule: args
            .schedule
            .as_deref()
            .map(|s| Schedule::parse(s, true))
            .transpose()?,
        from_flag: args.schedule.is_some(),
        tz: time_zone(args.timezone.as_deref())?,
        offset: if args.once {
            Duration::ZERO
        } else {
            host_offset(
                &format!("{}\n{}", lock::machine_id(), store.location()),
                args.jitter,
            )
        },
        backoff: args.backoff,
        max_backoff: args.max_backoff,
        failures_in_row: 0,
    };
    timing.follow(&first)?;
    if timing.schedule.is_none() && !args.once {
        bail!(
            "no schedule: set `schedule:` in {} or pass --schedule CRON (e.g. '0 */6 * * *'), or use --once",
            path.display()
        );
    }
    let mut policy = PolicyState {
        path,
        fingerprint: fingerprint(&first),
        good: first,
        generation: 1,
        load_errors: Vec::new(),
    };
    metrics.policy_loaded(1);
    if let Some(addr) = args.metrics_listen {
        let local = http::serve(addr, metrics.clone()).await?;
        tracing::info!(listen = %local, "serving /metrics and /healthz on http://{local}");
    }
    let mut term = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("handling SIGHUP")?;

    let daemon = Daemon {
        cli,
        args,
        store,
        state_dir,
        metrics,
    };
    if args.once {
        let report = daemon
            .tick(
                &policy,
                timing.schedule.as_ref(),
                &mut term,
                &mut int,
                &mut hup,
            )
            .await;
        return Ok(match report.result {
            RunResult::Success => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        });
    }

    let mut next = Timestamp::now() + SignedDuration::try_from(timing.offset)?;
    tracing::info!(
        store = %daemon.store.location(),
        schedule = timing.schedule.as_ref().map(|s| s.line()).unwrap_or(""),
        offset_seconds = timing.offset.as_secs_f64(),
        first_run = %next,
        "imagectl run started: first run at {next}"
    );
    daemon.metrics.next_run(next);
    loop {
        let wait = Duration::try_from(next.duration_since(Timestamp::now())).unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = term.recv() => { tracing::info!("SIGTERM: exiting"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: exiting"); break; }
            _ = hup.recv() => { tracing::info!("SIGHUP: re-reading the policy and running now"); }
        }
        policy.reload(cli, &store_spec, &daemon.metrics);
        if let Err(e) = timing.follow(&policy.good) {
            tracing::error!(error = %e, "the policy's schedule cannot be used: {e}");
        }
        let Some(report) = daemon
            .tick_with_next(&policy, &mut timing, &mut term, &mut int, &mut hup)
            .await
        else {
            break;
        };
        next = match (report.rerun, report.next) {
            (true, _) => Timestamp::now(),
            (false, Some(n)) => n,
            (false, None) => Timestamp::now() + SignedDuration::from_secs(60),
        };
        daemon.metrics.next_run(next);
    }
    Ok(ExitCode::SUCCESS)
}

struct Daemon<'a> {
    cli: &'a Cli,
    args: &'a RunArgs,
    store: Arc<dyn ImageStore>,
    state_dir: PathBuf,
    metrics: Arc<Metrics>,
}

/// What the loop needs from a finished tick.
struct TickEnd {
    next: Option<Timestamp>,
    rerun: bool,
}

impl Daemon<'_> {
    /// A tick that computes its next run; `None` when a signal asked to stop.
    async fn tick_with_next(
        &self,
        policy: &PolicyState,
        timing: &mut Timing,
        term: &mut tokio::signal::unix::Signal,
        int: &mut tokio::signal::unix::Signal,
        hup: &mut tokio::signal::unix::Signal,
    ) -> Option<TickEnd> {
        let mut rerun = false;
        let started = Timestamp::now();
        let before = crate::registry::stats::snapshot();
        let work = self.work(&policy.good);
        tokio::pin!(work);
        let outcome = loop {
            tokio::select! {
                o = &mut work => break Some(o),
                _ = term.recv() => { tracing::info!("SIGTERM: abandoning the current run and exiting"); break None; }
                _ = int.recv() => { tracing::info!("SIGINT: abandoning the current run and exiting"); break None; }
                _ = hup.recv() => { tracing::info!("SIGHUP: running again after the current run"); rerun = true; }
            }
        };
        let Some(outcome) = outcome else {
            // The run's future is never polled again: it is abandoned between two atomic
            // store writes, and dropped when this tick returns.
            self.finish(
                started,
                &before,
                RunResult::Interrupted,
                policy.status(timing.schedule.as_ref()),
                RunParts::default(),
                None,
            )
            .await;
            return None;
        };
        let parts = outcome.parts();
        let result = record::result_of(&parts);
        timing.failures_in_row = match result {
            RunResult::Success => 0,
            _ => timing.failures_in_row + 1,
        };
        let next = match timing.next(Timestamp::now()) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::error!(error = %e, "cannot compute the next run: {e}; trying again in a minute");
                None
            }
        };
        self.finish(
            started,
            &before,
            result,
            policy.status(timing.schedule.as_ref()),
            parts,
            next,
        )
        .await;
        Some(TickEnd { next, rerun })
    }

    /// `--once`: one tick now, interruptible like any other.
    async fn tick(
        &self,
        policy: &PolicyState,
        schedule: Option<&Schedule>,
        term: &mut tokio::signal::unix::Signal,
        int: &mut tokio::signal::unix::Signal,
        hup: &mut tokio::signal::unix::Signal,
    ) -> RunReport {
        let started = Timestamp::now();
        let before = crate::registry::stats::snapshot();
        let outcome = tokio::select! {
            o = self.work(&policy.good) => Some(o),
            _ = term.recv() => None,
            _ = int.recv() => None,
            _ = hup.recv() => None,
        };
        let status = policy.status(schedule);
        let next = None;
        match outcome {
            Some(o) => {
                let parts = o.parts();
                let result = record::result_of(&parts);
                self.finish(started, &before, result, status, parts, next)
                    .await
            }
            None => {
                self.finish(
                    started,
                    &before,
                    RunResult::Interrupted,
                    status,
                    RunParts::default(),
                    next,
                )
                .await
            }
        }
    }

    /// Plan and apply once.
    async fn work(&self, policy: &Policy) -> Work {
        let referrers = !self.args.no_referrers;
        let planned = match prepare_in(self.cli, policy, self.store.clone(), referrers).await {
            Ok(p) => p,
            Err(e) => {
                return Work {
                    planned: None,
                    applied: None,
                    error: Some(format!("planning: {}", super::one_line(&e))),
                };
            }
        };
        tracing::info!(
            actions = planned.plan.actions.len(),
            replication = planned.plan.replication.actions.len(),
            failures = planned.plan.failures.len(),
            "planned {} actions",
            planned.plan.actions.len() + planned.plan.replication.actions.len()
        );
        if planned.nothing_to_do() {
            return Work {
                planned: Some(planned),
                applied: None,
                error: None,
            };
        }
        let quiet = Arc::new(super::progress::Progress::new(true));
        match carry_out(&planned, quiet).await {
            Ok(applied) => Work {
                planned: Some(planned),
                applied: Some(applied),
                error: None,
            },
            Err(e) => Work {
                planned: Some(planned),
                applied: None,
                error: Some(super::one_line(&e)),
            },
        }
    }

    /// Report, log and export a finished (or abandoned) run.
    async fn finish(
        &self,
        started: Timestamp,
        before: &crate::registry::stats::RequestStats,
        result: RunResult,
        policy: PolicyStatus,
        parts: RunParts<'_>,
        next: Option<Timestamp>,
    ) -> RunReport {
        let report = record::build(
            "run",
            started,
            before,
            result,
            policy,
            &*self.store,
            parts,
            next,
        )
        .await;
        record::log(&report);
        self.metrics.observe(&report);
        let outputs = [
            Some(self.state_dir.join(LAST_RUN)),
            self.args.report.clone(),
        ];
        for path in outputs.iter().flatten() {
            if let Err(e) = record::write_report(path, &report) {
                tracing::error!(error = %super::one_line(&e), "{}", super::one_line(&e));
            }
        }
        if let Some(path) = &self.args.metrics_file
            && let Err(e) = record::write_metrics(path, &self.metrics)
        {
            tracing::error!(error = %super::one_line(&e), "{}", super::one_line(&e));
        }
        release_free_memory();
        report
    }
}

/// Hand the memory a run freed back to the system: glibc keeps freed heap in its per-thread
/// arenas, so without this an idle daemon would hold its busiest run's footprint for hours.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own heap to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A plan and, if it ran, the executor's and replication's reports.
struct Work {
    planned: Option<Planned>,
    applied: Option<(
        crate::exec::ApplyReport,
        Option<crate::exec::ReplicationReport>,
    )>,
    error: Option<String>,
}

impl Work {
    fn parts(&self) -> RunParts<'_> {
        RunParts {
            planned: self.planned.as_ref(),
            apply: self.applied.as_ref().map(|(a, _)| a),
            replication: self.applied.as_ref().and_then(|(_, r)| r.as_ref()),
            error: self.error.clone(),
        }
    }
}
