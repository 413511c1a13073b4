//! `imagectl diff` and `imagectl plan --state`/`--format markdown`: what a pull request on
//! a policy repo shows its reviewers. Nothing here opens a store: the base policy, the
//! changed policy and hosts' run reports are all it reads, besides the registries.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::apply::{Planned, StoreView, load_policy, plan_view, planning_failed, policy_client};
use super::args::{Cli, DiffArgs, PlanArgs, ReviewFormat};
use super::format::{human_size, print_json};
use crate::exec::{ReferrerFinder, expand_pair};
use crate::plan::{Plan, render_text};
use crate::policy::Policy;
use crate::registry::RegistryClient;
use crate::report::RunReport;
use crate::review::{
    InUse, Side, diff_markdown, diff_policies, host_warnings, plan_markdown, render_diff_text,
};

/// A host's run report with the state it carries.
struct Reported {
    path: String,
    report: RunReport,
}

/// Read a run report that carries a store state, or say which and why not.
fn read_report(path: &Path) -> Result<Reported> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let report: RunReport = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a run report (imagectl run's last-run.json or apply --report)",
            path.display()
        )
    })?;
    if report.state.is_none() {
        bail!(
            "{} carries no store state: the host's imagectl predates `plan --state` or could not read its store; let it run once more with this version",
            path.display()
        );
    }
    Ok(Reported {
        path: path.display().to_string(),
        report,
    })
}

impl Reported {
    fn view(&self) -> StoreView {
        StoreView::of_report(self.report.state.as_ref().expect("checked on reading"))
    }

    /// Names the plan keeps only because containers use them.
    fn in_use(&self, plan: &Plan) -> Vec<InUse> {
        let used = self
            .report
            .state
            .as_ref()
            .map(|s| s.in_use())
            .unwrap_or_default();
        plan.protected
            .iter()
            .filter_map(|p| {
                let name = p.name.parse().ok()?;
                used.get(&name).map(|c| InUse {
                    name,
                    containers: c.clone(),
                })
            })
            .collect()
    }
}

/// `plan` for a review: against a store (`Planned`), or against each reported state.
pub(super) async fn plan(cli: &Cli, args: &PlanArgs, policy: &Policy) -> Result<ExitCode> {
    let hosts = args
        .state
        .iter()
        .map(|p| read_report(p))
        .collect::<Result<Vec<_>>>()?;
    let client = policy_client(cli, policy)?;
    // One finder for every host: the sources' referrers are the same for all.
    let finder = (!args.no_referrers)
        .then(|| ReferrerFinder::new(client.sharing_tag_lists(), None).following_referrers());
    let mut plans = Vec::new();
    for host in &hosts {
        let (plan, _, _) = plan_view(&client, policy, &host.view(), finder.as_ref()).await;
        plans.push(plan);
    }
    let format = if args.json {
        ReviewFormat::Json
    } else {
        args.format
    };
    match format {
        ReviewFormat::Json => print_json(&serde_json::json!({
            "hosts": hosts.iter().zip(&plans).map(|(h, plan)| serde_json::json!({
                "report": h.path,
                "location": h.report.store.location,
                "reported_at": h.report.finished,
                "warnings": host_warnings(&h.report.store.location, plan, &h.in_use(plan)),
                "plan": plan,
            })).collect::<Vec<_>>(),
        }))?,
        ReviewFormat::Markdown => {
            for (h, plan) in hosts.iter().zip(&plans) {
                let label = &h.report.store.location;
                let warnings = host_warnings(label, plan, &h.in_use(plan));
                println!("{}", plan_markdown(plan, label, &warnings, &human_size));
            }
        }
        ReviewFormat::Text => {
            for (h, plan) in hosts.iter().zip(&plans) {
                let label = &h.report.store.location;
                println!("Host {label} (reported {}, {}):", h.report.finished, h.path);
                for w in host_warnings(label, plan, &h.in_use(plan)) {
                    println!("WARNING: {w}");
                }
                print!("{}", render_text(plan, &human_size));
            }
        }
    }
    Ok(exit_code(
        plans.iter().any(planning_failed),
        args.detailed_exitcode && plans.iter().any(|p| !p.is_empty()),
    ))
}

/// Print a plan made against a store in `--format markdown`.
pub(super) fn print_store_plan_markdown(planned: &Planned) {
    let label = planned.store.location();
    let warnings = host_warnings(&label, &planned.plan, &[]);
    print!(
        "{}",
        plan_markdown(&planned.plan, &label, &warnings, &human_size)
    );
}

/// `imagectl diff OLD NEW`.
pub(super) async fn diff(cli: &Cli, args: &DiffArgs) -> Result<ExitCode> {
    let (Some(old), Some(new)) = (load_policy(&args.old)?, load_policy(&args.new)?) else {
        return Ok(ExitCode::FAILURE);
    };
    let hosts = args
        .state
        .iter()
        .map(|p| read_report(p))
        .collect::<Result<Vec<_>>>()?;
    let client = diff_client(cli, &old, &new)?;
    let (before, after) = expand_pair(&client, &old, &new).await;
    let mut diff = diff_policies(
        Side {
            policy: &old,
            desired: &before,
        },
        Side {
            policy: &new,
            desired: &after,
        },
    );
    let mut failed = !diff.failures.is_empty();
    for h in &hosts {
        let state = h.report.state.as_ref().expect("checked on reading");
        // What changes for the host's store; referrers are counted by `plan`, not here.
        let (plan, _, _) = plan_view(&client, &new, &h.view(), None).await;
        failed |= planning_failed(&plan);
        diff.check_host(
            h.path.clone(),
            h.report.store.location.clone(),
            h.report.finished,
            &state.in_use(),
            &plan,
        );
    }
    match args.format {
        ReviewFormat::Json => {
            let mut value = serde_json::to_value(&diff)?;
            value["old"] = serde_json::json!(args.old);
            value["new"] = serde_json::json!(args.new);
            print_json(&value)?;
        }
        ReviewFormat::Markdown => print!("{}", diff_markdown(&diff, &human_size)),
        ReviewFormat::Text => print!("{}", render_diff_text(&diff, &human_size)),
    }
    Ok(exit_code(failed, !diff.is_empty()))
}

/// One client for both versions: the new version's registry settings, and the old one's
/// for registries only it names (its entries must still expand).
fn diff_client(cli: &Cli, old: &Policy, new: &Policy) -> Result<RegistryClient> {
    let mut registries: BTreeMap<_, _> = old.registries.clone();
    registries.extend(new.registries.clone());
    policy_client(
        cli,
        &Policy {
            registries,
            ..new.clone()
        },
    )
}

/// 1 on error, else 2 when something changes, else 0 (Terraform's `-detailed-exitcode`).
fn exit_code(failed: bool, changes: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else if changes {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
