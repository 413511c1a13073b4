//! `imagectl plan` and `imagectl apply`: load the policy, expand it against the registries,
//! plan against the store, and (for apply) carry the plan out.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;

use super::args::{ApplyArgs, Cli, PlanArgs};
use super::format::human_size;
use super::progress::Progress;
use super::store_spec;
use crate::exec::{
    ApplyReport, Copier, ReplicationReport, actual_state, apply as run_apply, expand, load_ledger,
    observe_replicas, replicate,
};
use crate::plan::{Plan, plan as make_plan, render_text, replica_targets};
use crate::policy::{Policy, StoreSpec as PolicyStore, load};
use crate::registry::RegistryClient;
use crate::store::{self, ContainerdSpec, ImageStore, PullPath, StoreSpec};

/// A policy planned against a store.
struct Planned {
    store: Arc<dyn ImageStore>,
    client: RegistryClient,
    plan: Plan,
}

/// Load the policy, or print every error in it (one `error:` line each) and say so.
fn load_policy(file: &Path) -> Result<Option<Policy>> {
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

async fn prepare(cli: &Cli, policy: &Policy) -> Result<Planned> {
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
    let store = store::open(&store_spec(cli, from_policy.as_ref())?).await?;
    let client = RegistryClient::new(super::registries::client_config(
        cli,
        Some(&policy.registries),
    )?)?;
    let inventory = store.inventory().await?;
    let desired = expand(&client, policy, &inventory).await;
    let mut actual = actual_state(&inventory, &store.content_sizes(&inventory).await?);
    if !desired.replicas.is_empty() {
        actual.replicas = observe_replicas(&client, &replica_targets(&desired)).await;
    }
    actual.pushed = load_ledger(&*store).await?;
    let plan = make_plan(&desired, &actual, Timestamp::now());
    Ok(Planned {
        store,
        client,
        plan,
    })
}

pub(super) async fn plan(cli: &Cli, args: &PlanArgs) -> Result<ExitCode> {
    let Some(policy) = load_policy(&args.policy.file)? else {
        return Ok(ExitCode::FAILURE);
    };
    let planned = prepare(cli, &policy).await?;
    if args.json || args.output.json() {
        println!("{}", serde_json::to_string_pretty(&planned.plan)?);
    } else {
        print!("{}", render_text(&planned.plan, &human_size));
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
    let planned = prepare(cli, &policy).await?;
    let plan = &planned.plan;
    if !json {
        print!("{}", render_text(plan, &human_size));
    }
    let planning_failed = planning_failed(plan);
    if plan.is_empty() || args.dry_run {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "plan": plan }))?
            );
        }
        return Ok(if planning_failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    if !args.yes {
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
    let report = run_apply(&planned.client, planned.store.clone(), plan, 8, progress)
        .await
        .with_context(|| format!("applying to the store at {}", planned.store.location()))?;
    let replication = if plan.replication.actions.is_empty() {
        None
    } else {
        let copier = Arc::new(Copier::new(planned.client.clone(), planned.store.content()));
        Some(
            replicate(
                copier,
                &planned.client,
                &*planned.store,
                &plan.replication,
                REPLICATION_CONCURRENCY,
            )
            .await
            .context("replicating")?,
        )
    };
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
    let failed = planning_failed
        || !report.failures.is_empty()
        || report.refused.is_some()
        || replication.as_ref().is_some_and(|r| !r.failures.is_empty());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Images copied to replication targets at once (each bounds its own blob transfers).
const REPLICATION_CONCURRENCY: usize = 16;

/// Whether planning already failed somewhere (an entry, a replica target): exit 1.
fn planning_failed(plan: &Plan) -> bool {
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
