//! The run report: what one `imagectl run` tick (or one `apply`) found, did and failed,
//! as the stable JSON document `--report FILE` writes, the daemon keeps as
//! `last-run.json` in its state directory, and `imagectl status` reads back. Fields may be
//! added, never renamed.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::state::HostState;
use crate::exec::{ApplyReport, Outcome, ReplicationReport};
use crate::registry::stats::RequestStats;

/// The version of the document's shape.
pub const REPORT_VERSION: u32 = 1;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunResult {
    /// Everything planned was done (or there was nothing to do).
    Success,
    /// Something could not be planned or done; the rest was.
    Failure,
    /// Stopped by SIGTERM/SIGINT before it finished; what was done is kept.
    Interrupted,
}

impl RunResult {
    /// `success`, `failure`, `interrupted`: the metric label and the word `status` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Interrupted => "interrupted",
        }
    }
}

/// One run, start to end.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// `run` or `apply`.
    pub command: String,
    /// When the run began.
    pub started: Timestamp,
    /// When it ended.
    pub finished: Timestamp,
    /// `finished - started`.
    pub duration_seconds: f64,
    /// How it ended.
    pub result: RunResult,
    /// The policy the run used, and whether the newest one on disk failed to load.
    pub policy: PolicyStatus,
    /// The store after the run.
    pub store: StoreStatus,
    /// The names the policy wants, against what the store holds after the run.
    pub names: NameCounts,
    /// The plan (`plan --json`'s shape); `null` when the run stopped before planning.
    pub plan: Option<serde_json::Value>,
    /// Every action attempted: pulls, tags, untags, removals, blob prunes, and replication
    /// pushes and deletions.
    pub actions: Vec<ActionRecord>,
    /// What failed, one line each.
    pub failures: Vec<String>,
    /// Bytes downloaded.
    pub bytes_pulled: u64,
    /// Bytes freed in the store.
    pub bytes_reclaimed: u64,
    /// Requests sent during the run, per server and status class.
    pub registry_requests: Vec<RequestCount>,
    /// Retries during the run, per server.
    pub retries: BTreeMap<String, u64>,
    /// The last `ratelimit-remaining` each server announced (Docker Hub does).
    pub rate_limit_remaining: BTreeMap<String, u64>,
    /// When the daemon runs next (`null` for a one-shot run).
    pub next_run: Option<Timestamp>,
    /// The store after the run, as the planner reads it (`plan --state` plans against
    /// it); absent in reports of older versions and when the store could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<HostState>,
}

/// The policy behind a run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PolicyStatus {
    /// The file or directory read.
    pub path: String,
    /// Counts changes of the loaded policy since the daemon started (1 = the first one).
    pub generation: u64,
    /// The policy on disk did not load: the run used the last good one.
    pub load_failed: bool,
    /// Why it did not load, one line per problem.
    pub load_errors: Vec<String>,
    /// The cron line the daemon follows, if any.
    pub schedule: Option<String>,
}

/// The store's size after a run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StoreStatus {
    /// Where it is.
    pub location: String,
    /// Bytes of content, each blob once.
    pub bytes: u64,
    /// Bytes `prune` would free.
    pub reclaimable_bytes: u64,
    /// Images.
    pub images: u64,
}

/// Wanted names against the store.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NameCounts {
    /// Names the policy wants (tags, pins and `also_tag` names of resolved entries).
    pub wanted: u64,
    /// Of those, names the store holds.
    pub present: u64,
    /// Of those, names it lacks.
    pub missing: u64,
    /// The missing names.
    pub missing_names: Vec<String>,
}

/// One action and how it ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActionRecord {
    /// `pull`, `tag`, `untag`, `remove`, `prune_blobs`, `push` or `delete_tag`.
    pub action: String,
    /// The name, image ID or target tag it acted on.
    pub target: String,
    /// `ok`, `failed` or `skipped`.
    pub outcome: String,
    /// How long it took; `null` where it is not measured (replication).
    pub seconds: Option<f64>,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// Requests to one server with one status class.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestCount {
    /// `host[:port]` of the server (a mirror counts apart from its upstream).
    pub registry: String,
    /// `2xx`, `3xx`, `4xx`, `5xx`, or `error` (no response).
    pub class: String,
    /// How many.
    pub requests: u64,
}

impl RunReport {
    /// The actions of an apply and of its replication, as records.
    pub fn actions_of(
        apply: Option<&ApplyReport>,
        replication: Option<&ReplicationReport>,
    ) -> Vec<ActionRecord> {
        let mut out: Vec<ActionRecord> = apply
            .map(|r| {
                r.actions
                    .iter()
                    .map(|a| ActionRecord {
                        action: a.action.to_string(),
                        target: a.target.clone(),
                        outcome: match a.outcome {
                            Outcome::Ok => "ok",
                            Outcome::Failed => "failed",
                            Outcome::Skipped => "skipped",
                        }
                        .to_string(),
                        seconds: Some(a.seconds),
                        error: a.error.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(r) = replication {
            let record =
                |action: &str, target: &str, outcome: &str, error: Option<String>| ActionRecord {
                    action: action.to_string(),
                    target: target.to_string(),
                    outcome: outcome.to_string(),
                    seconds: None,
                    error,
                };
            out.extend(r.pushed.iter().map(|t| record("push", t, "ok", None)));
            out.extend(
                r.deleted
                    .iter()
                    .map(|t| record("delete_tag", t, "ok", None)),
            );
            out.extend(
                r.kept
                    .iter()
                    .map(|t| record("delete_tag", t, "skipped", Some(t.clone()))),
            );
        }
        out
    }

    /// Requests as records, sorted by server then class.
    pub fn requests_of(stats: &RequestStats) -> Vec<RequestCount> {
        stats
            .requests
            .iter()
            .map(|((registry, class), n)| RequestCount {
                registry: registry.clone(),
                class: class.clone(),
                requests: *n,
            })
            .collect()
    }

    /// Actions per (kind, outcome).
    pub fn action_counts(&self) -> BTreeMap<(String, String), u64> {
        let mut counts = BTreeMap::new();
        for a in &self.actions {
            *counts
                .entry((a.action.clone(), a.outcome.clone()))
                .or_default() += 1;
        }
        counts
    }
}
