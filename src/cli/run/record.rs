//! Turning a run into its report, its log lines and its metrics: shared by the daemon and
//! by `apply --report/--metrics-file`.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use jiff::Timestamp;

use super::super::apply::Planned;
use crate::exec::{ApplyReport, ReplicationReport, load_ledger};
use crate::registry::stats::RequestStats;
use crate::report::{
    HostState, Metrics, NameCounts, PolicyStatus, REPORT_VERSION, RunReport, RunResult,
    StoreStatus, disk_usage, write_atomically,
};
use crate::store::ImageStore;

/// What a run produced, however far it got.
#[derive(Default)]
pub(in crate::cli) struct RunParts<'a> {
    /// The plan, once planning succeeded.
    pub planned: Option<&'a Planned>,
    /// The executor's report, once it ran.
    pub apply: Option<&'a ApplyReport>,
    /// Replication's report, if there was any.
    pub replication: Option<&'a ReplicationReport>,
    /// An error that stopped the run.
    pub error: Option<String>,
}

/// The report of a run that began at `started` with request counters at `before`.
#[allow(clippy::too_many_arguments)]
pub(in crate::cli) async fn build(
    command: &str,
    started: Timestamp,
    before: &RequestStats,
    result: RunResult,
    policy: PolicyStatus,
    store: &dyn ImageStore,
    parts: RunParts<'_>,
    next_run: Option<Timestamp>,
) -> RunReport {
    let stats = crate::registry::stats::snapshot().since(before);
    let (store_status, held, state) = observe_store(store).await;
    let wanted: BTreeSet<String> = parts
        .planned
        .map(|p| p.wanted.iter().map(|n| n.to_string()).collect())
        .unwrap_or_default();
    let missing_names: Vec<String> = wanted.difference(&held).cloned().collect();
    let mut failures: Vec<String> = Vec::new();
    if let Some(p) = parts.planned {
        failures.extend(
            p.plan
                .failures
                .iter()
                .map(|f| format!("{} ({}): {}", f.repository, f.entry, f.error)),
        );
        failures.extend(p.plan.replication.failures.iter().cloned());
    }
    if let Some(a) = parts.apply {
        failures.extend(a.failures.iter().map(ToString::to_string));
        if let Some(limit) = &a.refused {
            failures.push(format!(
                "{} removals exceed prune.max_removals ({}): nothing was removed",
                limit.planned, limit.max
            ));
        }
    }
    if let Some(r) = parts.replication {
        failures.extend(r.failures.iter().cloned());
    }
    failures.extend(parts.error.iter().cloned());
    let finished = Timestamp::now();
    RunReport {
        version: REPORT_VERSION,
        command: command.to_string(),
        started,
        finished,
        duration_seconds: finished.duration_since(started).as_secs_f64(),
        result,
        policy,
        store: store_status,
        names: NameCounts {
            wanted: wanted.len() as u64,
            present: (wanted.len() - missing_names.len()) as u64,
            missing: missing_names.len() as u64,
            missing_names,
        },
        plan: parts
            .planned
            .and_then(|p| serde_json::to_value(&p.plan).ok()),
        actions: RunReport::actions_of(parts.apply, parts.replication),
        failures,
        bytes_pulled: parts.apply.map_or(0, |a| a.bytes_downloaded),
        bytes_reclaimed: parts.apply.map_or(0, |a| a.bytes_reclaimed),
        registry_requests: RunReport::requests_of(&stats),
        retries: stats.retries.clone(),
        rate_limit_remaining: stats.rate_limit_remaining.clone(),
        next_run,
        state,
    }
}

/// The store's size, the names it holds and its state for `plan --state`; zeros and no
/// state if it cannot be read now.
async fn observe_store(
    store: &dyn ImageStore,
) -> (StoreStatus, BTreeSet<String>, Option<HostState>) {
    let mut status = StoreStatus {
        location: store.location(),
        ..Default::default()
    };
    let Ok(inventory) = store.inventory().await else {
        return (status, BTreeSet::new(), None);
    };
    let mut state = None;
    if let Ok(blobs) = store.content_sizes(&inventory).await {
        let usage = disk_usage(&inventory, &blobs);
        status.bytes = usage.total_size;
        status.reclaimable_bytes = usage.reclaimable;
        // A ledger that cannot be read leaves the state out rather than claim no pushes.
        if let Ok(pushed) = load_ledger(store).await {
            state = Some(HostState::capture(&inventory, &blobs, pushed));
        }
    }
    status.images = inventory.images.len() as u64;
    let held = inventory
        .images
        .iter()
        .flat_map(|i| i.names.iter().map(|n| n.to_string()))
        .collect();
    (status, held, state)
}

/// One log line per action and one for the run, at info (warn for what failed).
pub(in crate::cli) fn log(report: &RunReport) {
    for a in &report.actions {
        let error = a.error.as_deref().unwrap_or("");
        if a.outcome == "ok" {
            tracing::info!(
                action = %a.action,
                target = %a.target,
                outcome = %a.outcome,
                seconds = a.seconds.unwrap_or(0.0),
                "{} {}",
                a.action,
                a.target
            );
        } else {
            tracing::warn!(
                action = %a.action,
                target = %a.target,
                outcome = %a.outcome,
                error,
                "{} {}: {}",
                a.action,
                a.target,
                a.outcome
            );
        }
    }
    for f in &report.failures {
        tracing::warn!(failure = %f, "failed: {f}");
    }
    tracing::info!(
        result = report.result.as_str(),
        seconds = report.duration_seconds,
        actions = report.actions.len(),
        failures = report.failures.len(),
        bytes_pulled = report.bytes_pulled,
        bytes_reclaimed = report.bytes_reclaimed,
        requests = report
            .registry_requests
            .iter()
            .map(|r| r.requests)
            .sum::<u64>(),
        wanted = report.names.wanted,
        missing = report.names.missing,
        next_run = report.next_run.map(|t| t.to_string()).unwrap_or_default(),
        "run finished: {}",
        report.result.as_str()
    );
}

/// Write the report as JSON to `path`, atomically.
pub(in crate::cli) fn write_report(path: &Path, report: &RunReport) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(report)?;
    bytes.push(b'\n');
    write_atomically(path, &bytes).with_context(|| "writing the run report".to_string())
}

/// Write the metrics in the textfile collector's format to `path`, atomically.
pub(in crate::cli) fn write_metrics(path: &Path, metrics: &Metrics) -> Result<()> {
    write_atomically(path, metrics.text().as_bytes())
        .with_context(|| "writing the metrics file".to_string())
}

/// The result of a run that got to the end.
pub(in crate::cli) fn result_of(parts: &RunParts<'_>) -> RunResult {
    let failed = parts.error.is_some()
        || match (parts.planned, parts.apply) {
            (Some(p), Some(a)) => super::super::apply::run_failed(&p.plan, a, parts.replication),
            (Some(p), None) => super::super::apply::planning_failed(&p.plan),
            (None, _) => true,
        };
    if failed {
        RunResult::Failure
    } else {
        RunResult::Success
    }
}
