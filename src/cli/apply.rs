//! `imagectl plan` and `imagectl apply`: load the policy, expand it against the registries,
//! plan against the store, and (for apply) carry the plan out.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;

use super::args::{ApplyArgs, Cli, PlanArgs, ReviewFormat};
use super::format::human_size;
use super::progress::Progress;
use super::run::record::{self, RunParts};
use super::store_spec;
use crate::exec::{
    ApplyReport, Copier, Ledgers, PullObserver, ReferrerCopier, ReferrerFinder, ReplicationReport,
    actual_state, apply as run_apply, expand, load_ledger, observe_replicas, read_ledgers,
    replicate,
};
use crate::oci::{Digest, Reference};
use crate::plan::{Plan, ReplicaRecord, plan as make_plan, render_text, replica_targets};
use crate::policy::{Policy, StoreSpec as PolicyStore, load};
use crate::registry::RegistryClient;
use crate::report::{HostState, Metrics, PolicyStatus};
use crate::store::{self, ContainerdSpec, ImageStore, Inventory, PullPath, StoreSpec};

/// A policy planned against a store.
pub(super) struct Planned {
    pub(super) store: Arc<dyn ImageStore>,
    pub(super) client: RegistryClient,
    pub(super) plan: Plan,
    /// Every name the resolved entries want (tags, pins, `also_tag` names).
    pub(super) wanted: Vec<Reference>,
    /// The replication targets' ledgers of pushed tags, as read for the plan.
    pub(super) ledgers: Ledgers,
    /// What the plan found of the sources' referrers, for replication to carry without
    /// asking again; `None` with `--no-referrers`.
    pub(super) finder: Option<Arc<ReferrerFinder>>,
}

impl Planned {
    /// Nothing to carry out: an empty plan, no records of the store's own ledger waiting
    /// to move into a target's, no referrers to look for.
    pub(super) fn nothing_to_do(&self) -> bool {
        self.plan.is_empty() && !self.replication_due()
    }

    /// Replication has work beyond the plan's actions: ledger records to move, or
    /// referrers to look for (new signatures appear for images the target already has).
    fn replication_due(&self) -> bool {
        !self.plan.replication.actions.is_empty()
            || self.ledgers.migration_pending()
            || !self.plan.replication.referrers.is_empty()
    }
}

/// Load the policy, or print every error in it (one `error:` line each) and say so.
pub(super) fn load_policy(file: &Path) -> Result<Option<Policy>> {
    match load(file) {
        Ok(p) => Ok(Some(p)),
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            Ok(None)
        }
    }
}

/// The store a policy names, unless `--store` or `$IMAGECTL_STORE` says otherwise.
pub(super) fn policy_store_spec(cli: &Cli, policy: &Policy) -> Result<StoreSpec> {
    let from_policy = policy.store.as_ref().map(|s| match s {
        PolicyStore::Path(p) => StoreSpec::Embedded(p.clone()),
        PolicyStore::Docker { host, engine_pull } => StoreSpec::Docker(
            host.clone(),
            if *engine_pull {
                PullPath::Engine
            } else {
                PullPath::Imagectl
            },
        ),
        PolicyStore::Containerd {
            address,
            namespace,
            cri_pull,
            min_age,
        } => StoreSpec::Containerd(ContainerdSpec {
            address: address.clone(),
            namespace: namespace.clone(),
            pull: if *cri_pull {
                PullPath::Engine
            } else {
                PullPath::Imagectl
            },
            min_age: *min_age,
        }),
    });
    store_spec(cli, from_policy.as_ref())
}

async fn prepare(cli: &Cli, policy: &Policy, referrers: bool) -> Result<Planned> {
    let store = store::open(&policy_store_spec(cli, policy)?).await?;
    prepare_in(cli, policy, store, referrers).await
}

/// Expand `policy` against the registries and plan it against `store` as it is now;
/// `referrers`: false for `--no-referrers` (none looked up, none carried).
pub(super) async fn prepare_in(
    cli: &Cli,
    policy: &Policy,
    store: Arc<dyn ImageStore>,
    referrers: bool,
) -> Result<Planned> {
    let client = policy_client(cli, policy)?;
    let finder = referrers.then(|| {
        Arc::new(
            ReferrerFinder::new(client.sharing_tag_lists(), store.content()).following_referrers(),
        )
    });
    let inventory = store.inventory().await?;
    let view = StoreView {
        content: store.content_sizes(&inventory).await?,
        inventory,
        pushed: load_ledger(&*store).await?,
        leftovers: store.leftovers().await?,
    };
    let (plan, wanted, ledgers) = plan_view(&client, policy, &view, finder.as_deref()).await;
    Ok(Planned {
        store,
        client,
        plan,
        wanted,
        ledgers,
        finder,
    })
}

/// The registry client for a policy's registries.
pub(super) fn policy_client(cli: &Cli, policy: &Policy) -> Result<RegistryClient> {
    Ok(RegistryClient::new(super::registries::client_config(
        cli,
        Some(&policy.registries),
    )?)?)
}

/// What the planner reads of a store: read from the store, or from a host's run report
/// (`plan --state`), which is why it is plain data and planning from it writes nothing.
pub(super) struct StoreView {
    pub(super) inventory: Inventory,
    /// Every blob with its size.
    pub(super) content: Vec<(Digest, u64)>,
    /// The store's own replication records (before they move into the targets' ledgers).
    pub(super) pushed: Vec<ReplicaRecord>,
    /// Bytes killed writers left in temporary space (not in reports: a host's own next
    /// writer removes them).
    pub(super) leftovers: u64,
}

impl StoreView {
    /// The store state a host reported.
    pub(super) fn of_report(state: &HostState) -> Self {
        Self {
            inventory: state.inventory(),
            content: state.content(),
            pushed: state.pushed.clone(),
            leftovers: 0,
        }
    }
}

/// Expand `policy` against the registries and plan it against `view`, now; also every
/// name the resolved entries want, and the replication ledgers read for the plan. With a
/// `finder`, the wanted images' referrers are looked up at their sources (sharing the
/// expansion's tag lists) for the plan to count; without one none are carried.
pub(super) async fn plan_view(
    client: &RegistryClient,
    policy: &Policy,
    view: &StoreView,
    finder: Option<&ReferrerFinder>,
) -> (Plan, Vec<Reference>, Ledgers) {
    let expanding = finder.map_or(client, ReferrerFinder::client);
    let mut desired = expand(expanding, policy, &view.inventory).await;
    let mut actual = actual_state(&view.inventory, &view.content);
    actual.leftover_bytes = view.leftovers;
    if !desired.replicas.is_empty() {
        actual.replicas = observe_replicas(client, &replica_targets(&desired)).await;
    }
    let ledgers = read_ledgers(client, view.pushed.clone(), &desired.replicas).await;
    actual.pushed = ledgers.records();
    actual.unreadable_ledgers = ledgers.unreadable();
    match finder {
        Some(f) => actual.referrers = f.find_wanted(&desired).await,
        None => desired
            .replicas
            .iter_mut()
            .for_each(|r| r.referrers = false),
    }
    let plan = make_plan(&desired, &actual, Timestamp::now());
    let wanted = desired
        .entries
        .iter()
        .filter_map(|e| e.wanted.as_ref().ok())
        .flatten()
        .flat_map(|w| std::iter::once(w.name.clone()).chain(w.also_tag.iter().cloned()))
        .collect();
    (plan, wanted, ledgers)
}

/// Carry out a plan: the executor, then replication.
pub(super) async fn carry_out(
    planned: &Planned,
    progress: Arc<dyn PullObserver>,
) -> Result<(ApplyReport, Option<ReplicationReport>)> {
    let plan = &planned.plan;
    let report = run_apply(&planned.client, planned.store.clone(), plan, 8, progress)
        .await
        .with_context(|| format!("applying to the store at {}", planned.store.location()))?;
    let replication = if !planned.replication_due() {
        None
    } else {
        let copier = Arc::new(Copier::new(planned.client.clone(), planned.store.content()));
        let carrier = (!plan.replication.referrers.is_empty()).then(|| {
            let finder = planned.finder.clone().unwrap_or_else(|| {
                let client = planned.client.sharing_tag_lists();
                Arc::new(ReferrerFinder::new(client, planned.store.content()).following_referrers())
            });
            ReferrerCopier::new(copier.clone(), planned.client.clone(), finder)
        });
        Some(
            replicate(
                copier,
                &planned.client,
                &*planned.store,
                &plan.replication,
                &planned.ledgers,
                carrier.as_ref(),
                REPLICATION_CONCURRENCY,
            )
            .await
            .context("replicating")?,
        )
    };
    Ok((report, replication))
}

/// Whether a carried-out plan left something undone: exit 1.
pub(super) fn run_failed(
    plan: &Plan,
    report: &ApplyReport,
    replication: Option<&ReplicationReport>,
) -> bool {
    planning_failed(plan)
        || !report.failures.is_empty()
        || report.refused.is_some()
        || replication.is_some_and(|r| !r.failures.is_empty())
}

pub(super) async fn plan(cli: &Cli, args: &PlanArgs) -> Result<ExitCode> {
    let Some(policy) = load_policy(&args.policy.file)? else {
        return Ok(ExitCode::FAILURE);
    };
    if !args.state.is_empty() {
        return super::review::plan(cli, args, &policy).await;
    }
    let planned = prepare(cli, &policy, !args.no_referrers).await?;
    match args.format {
        _ if args.json => println!("{}", serde_json::to_string_pretty(&planned.plan)?),
        ReviewFormat::Json => println!("{}", serde_json::to_string_pretty(&planned.plan)?),
        ReviewFormat::Markdown => super::review::print_store_plan_markdown(&planned),
        ReviewFormat::Text => print!("{}", render_text(&planned.plan, &human_size)),
    }
    Ok(if planning_failed(&planned.plan) {
        ExitCode::FAILURE
    } else if args.detailed_exitcode && !planned.plan.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

pub(super) async fn apply(cli: &Cli, args: &ApplyArgs) -> Result<ExitCode> {
    let Some(policy) = load_policy(&args.policy.file)? else {
        return Ok(ExitCode::FAILURE);
    };
    let json = args.json || args.output.json();
    let started = Timestamp::now();
    let before = crate::registry::stats::snapshot();
    let planned = prepare(cli, &policy, !args.no_referrers).await?;
    let plan = &planned.plan;
    if !json {
        print!("{}", render_text(plan, &human_size));
    }
    let planning_failed = planning_failed(plan);
    if planned.nothing_to_do() || args.dry_run {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "plan": plan }))?
            );
        }
        let parts = RunParts {
            planned: Some(&planned),
            ..Default::default()
        };
        record_apply(args, &policy, started, &before, &planned, parts).await?;
        return Ok(if planning_failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    // Moving ledger records alone is bookkeeping, not a change to ask about.
    if !args.yes && !plan.is_empty() {
        if !std::io::stdin().is_terminal() {
            bail!(
                "apply changes the store and nobody can be asked here: re-run with --yes (review first with `imagectl plan`)"
            );
        }
        eprint!("Apply this plan? [y/N] ");
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok();
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("apply cancelled: nothing was changed");
        }
    }
    let progress = Arc::new(Progress::new(json));
    let (report, replication) = carry_out(&planned, progress).await?;
    let parts = RunParts {
        planned: Some(&planned),
        apply: Some(&report),
        replication: replication.as_ref(),
        error: None,
    };
    record_apply(args, &policy, started, &before, &planned, parts).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "plan": plan,
                "report": report,
                "replication": replication,
            }))?
        );
    } else {
        print_summary(&report);
        if let Some(r) = &replication {
            print_replication(r);
        }
    }
    let failed = run_failed(plan, &report, replication.as_ref());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `--report` and `--metrics-file` of a one-shot apply.
async fn record_apply(
    args: &ApplyArgs,
    policy: &Policy,
    started: Timestamp,
    before: &crate::registry::stats::RequestStats,
    planned: &Planned,
    parts: RunParts<'_>,
) -> Result<()> {
    if args.report.is_none() && args.metrics_file.is_none() {
        return Ok(());
    }
    let result = record::result_of(&parts);
    let status = PolicyStatus {
        path: args.policy.file.display().to_string(),
        generation: 1,
        schedule: policy.schedule.clone(),
        ..Default::default()
    };
    let report = record::build(
        "apply",
        started,
        before,
        result,
        status,
        &*planned.store,
        parts,
        None,
    )
    .await;
    record::log(&report);
    if let Some(path) = &args.report {
        record::write_report(path, &report)?;
    }
    if let Some(path) = &args.metrics_file {
        let metrics = Metrics::new();
        metrics.observe(&report);
        record::write_metrics(path, &metrics)?;
    }
    Ok(())
}

/// Images copied to replication targets at once (each bounds its own blob transfers).
const REPLICATION_CONCURRENCY: usize = 16;

/// Whether planning already failed somewhere (an entry, a replica target): exit 1.
pub(super) fn planning_failed(plan: &Plan) -> bool {
    !plan.failures.is_empty() || !plan.replication.failures.is_empty()
}

fn print_replication(r: &ReplicationReport) {
    println!(
        "Replicated: {} pushed ({} blobs, {} uploaded, {} mounted), {} deleted.",
        r.pushed.len(),
        r.blobs_uploaded,
        human_size(r.bytes_uploaded),
        r.blobs_mounted,
        r.deleted.len(),
    );
    if r.referrers_pushed + r.referrers_deleted > 0 {
        println!(
            "Referrers (signatures, attestations): {} pushed, {} deleted.",
            r.referrers_pushed, r.referrers_deleted
        );
    }
    for k in &r.kept {
        eprintln!("warning: kept {k}");
    }
    for f in &r.failures {
        eprintln!("error: {f}");
    }
}

fn print_summary(r: &ApplyReport) {
    println!(
        "Applied: {} pulled ({} downloaded), {} tagged, {} untagged, {} removed{} ({} reclaimed); store {} → {}.",
        r.pulled.len(),
        human_size(r.bytes_downloaded),
        r.tagged.len(),
        r.untagged.len(),
        r.removed.len(),
        if r.pruned {
            ", unused blobs pruned"
        } else {
            ""
        },
        human_size(r.bytes_reclaimed),
        human_size(r.store_bytes_before),
        human_size(r.store_bytes_after),
    );
    for s in &r.skipped {
        eprintln!("warning: {s}");
    }
    if let Some(limit) = &r.refused {
        eprintln!(
            "error: {} removals exceed prune.max_removals ({}): nothing was removed; review `imagectl plan`, then raise max_removals if the removals are right",
            limit.planned, limit.max
        );
    }
    for f in &r.failures {
        eprintln!("error: {f}");
    }
}
