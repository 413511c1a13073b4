//! `imagectl status`: the daemon's last run, read from the store's state directory.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;

use super::super::args::Cli;
use super::super::format::human_size;
use super::{LAST_RUN, lock};
use crate::report::RunReport;
use crate::store;

pub(in crate::cli) async fn status(cli: &Cli, file: Option<&Path>, json: bool) -> Result<ExitCode> {
    let spec = match file {
        Some(f) => {
            let Some(policy) = super::super::apply::load_policy(f)? else {
                return Ok(ExitCode::FAILURE);
            };
            super::super::apply::policy_store_spec(cli, &policy)?
        }
        None => super::super::store_spec(cli, None)?,
    };
    let store = store::open(&spec).await?;
    let state_dir = store.state_dir();
    let path = state_dir.join(LAST_RUN);
    let daemon = lock::holder(&state_dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "no run of `imagectl run` is recorded for the store at {}{}: start it, or run `imagectl run --once`",
                store.location(),
                daemon
                    .map(|d| format!(" (a daemon is running: {d})"))
                    .unwrap_or_default()
            );
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let report: RunReport = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a run report: remove it; the next run writes a new one",
            path.display()
        )
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report, daemon.as_deref(), Timestamp::now()));
    }
    Ok(ExitCode::SUCCESS)
}

fn ago(t: Timestamp, now: Timestamp) -> String {
    let secs = now.duration_since(t).as_secs();
    let (n, unit) = match secs.unsigned_abs() {
        s if s < 120 => (s, "s"),
        s if s < 7200 => (s / 60, "m"),
        s if s < 172_800 => (s / 3600, "h"),
        s => (s / 86_400, "d"),
    };
    if secs >= 0 {
        format!("{n}{unit} ago")
    } else {
        format!("in {n}{unit}")
    }
}

fn render(r: &RunReport, daemon: Option<&str>, now: Timestamp) -> String {
    let count = |kind: &str| {
        r.actions
            .iter()
            .filter(|a| a.action == kind && a.outcome == "ok")
            .count()
    };
    let mut out = format!(
        "Last run:  {} ({}), {}, {:.1}s, policy generation {}\n",
        r.started.round(jiff::Unit::Second).unwrap_or(r.started),
        ago(r.started, now),
        r.result.as_str(),
        r.duration_seconds,
        r.policy.generation,
    );
    out.push_str(&format!(
        "Changed:   {} pulled ({}), {} tagged, {} untagged, {} removed ({} reclaimed), {} pushed, {} deleted\n",
        count("pull"),
        human_size(r.bytes_pulled),
        count("tag"),
        count("untag"),
        count("remove"),
        human_size(r.bytes_reclaimed),
        count("push"),
        count("delete_tag"),
    ));
    if r.failures.is_empty() {
        out.push_str("Failed:    nothing\n");
    } else {
        out.push_str(&format!("Failed:    {}\n", r.failures.len()));
        for f in &r.failures {
            out.push_str(&format!("  - {f}\n"));
        }
    }
    if r.policy.load_failed {
        out.push_str(&format!(
            "Policy:    {} does not load; the last good one (generation {}) is in use:\n",
            r.policy.path, r.policy.generation
        ));
        for e in &r.policy.load_errors {
            out.push_str(&format!("  - {e}\n"));
        }
    }
    out.push_str(&format!(
        "Names:     {} wanted, {} present, {} missing\n",
        r.names.wanted, r.names.present, r.names.missing
    ));
    out.push_str(&format!(
        "Store:     {}: {} in {} images, {} reclaimable\n",
        r.store.location,
        human_size(r.store.bytes),
        r.store.images,
        human_size(r.store.reclaimable_bytes)
    ));
    out.push_str(&match (r.next_run, daemon) {
        (Some(next), Some(_)) => format!("Next run:  {next} ({})\n", ago(next, now)),
        (_, None) => "Next run:  none: no `imagectl run` holds this store now\n".to_string(),
        (None, Some(_)) => "Next run:  unknown\n".to_string(),
    });
    if let Some(d) = daemon {
        out.push_str(&format!("Daemon:    {d}\n"));
    }
    out
}
