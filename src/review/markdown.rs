//! `--format markdown` of `diff` and `plan`: a pull-request comment. Counts first, then
//! warnings as GitHub/GitLab alert blocks, then the removals by name; the full detail
//! folds into a `<details>` block once it is long, so a large change stays one screen.

use super::diff::{Fate, PolicyDiff};
use super::text::{count, setting};
use crate::plan::{Action, Plan, referrers_line, render_text};

/// Detail longer than this many lines folds into `<details>`.
const FOLD_AFTER: usize = 15;

/// `diff` as a comment.
pub fn diff_markdown(diff: &PolicyDiff, size: &dyn Fn(u64) -> String) -> String {
    let mut out = String::from("### imagectl diff\n\n");
    let s = &diff.summary;
    if diff.is_empty() {
        out.push_str("No changes: both versions want the same images with the same settings.\n");
    } else {
        out.push_str(&format!(
            "{} ({} to download) · {} ({} removed on hosts) · {} · {}\n",
            bold(s.added, "newly wanted", "newly wanted"),
            size(s.download_bytes),
            bold(s.removed, "no longer wanted", "no longer wanted"),
            s.removed_on_hosts,
            bold(s.changed, "digest changed", "digests changed"),
            bold(s.settings, "setting changed", "settings changed"),
        ));
    }
    let mut alerts: Vec<String> = diff.warnings.clone();
    alerts.extend(diff.failures.iter().map(|f| {
        format!(
            "`{}` ({}, {} policy) could not be expanded: {}",
            f.repository, f.entry, f.policy, f.error
        )
    }));
    warning_block(&alerts, &mut out);
    let removed: Vec<String> = diff
        .repositories
        .iter()
        .flat_map(|r| &r.removed)
        .filter(|x| x.fate.removes())
        .map(|x| format!("- `{}` — {}\n", x.name, x.fate.describe()))
        .collect();
    if !removed.is_empty() {
        out.push_str(
            "\n**Removed on hosts** (unless pulled or used within `keep_within`, and at most `max_removals` per run):\n\n",
        );
        out.extend(removed);
    }

    let mut rows = Vec::new();
    let cell = |t: &str| t.replace('|', "\\|");
    for r in &diff.repositories {
        let repo = cell(&r.repository);
        for a in &r.added {
            rows.push(format!(
                "| `{repo}` | + | `{}` | `{}` | {} |",
                a.name.tag().unwrap_or("(pin)"),
                a.digest.short(),
                a.download_bytes.map(size).unwrap_or_default()
            ));
        }
        for c in &r.changed {
            let old = c
                .old_pin
                .map(|f| format!("; old pin {}", f.describe()))
                .unwrap_or_default();
            rows.push(format!(
                "| `{repo}` | ~ | `{}` | `{}` → `{}` | {}{old} |",
                c.name.tag().unwrap_or("(pin)"),
                c.old_digest.short(),
                c.new_digest.short(),
                c.download_bytes.map(size).unwrap_or_default()
            ));
        }
        for x in &r.removed {
            rows.push(format!(
                "| `{repo}` | − | `{}` | `{}` | {} |",
                x.name.tag().unwrap_or("(pin)"),
                x.digest.short(),
                if x.fate == Fate::KeptUnmanaged {
                    "kept (unmanaged)"
                } else {
                    x.fate.describe()
                }
            ));
        }
    }
    let mut detail = String::new();
    if !rows.is_empty() {
        detail.push_str(
            "| Repository | | Name | Digest | Download / fate |\n|---|---|---|---|---|\n",
        );
        for r in &rows {
            detail.push_str(r);
            detail.push('\n');
        }
    }
    let settings: Vec<String> = diff
        .repositories
        .iter()
        .flat_map(|r| {
            r.settings
                .iter()
                .map(|s| format!("- `{}` {}\n", r.repository, cell(&setting(s))))
        })
        .chain(diff.settings.iter().map(|s| format!("- {}\n", setting(s))))
        .collect();
    if !settings.is_empty() {
        detail.push_str("\n**Settings**\n\n");
        detail.extend(settings);
    }
    if !diff.hosts.is_empty() {
        detail.push_str("\n| Host | Reported | Pulls | Removals |\n|---|---|---|---|\n");
        for h in &diff.hosts {
            detail.push_str(&format!(
                "| `{}` | {} | {} | {}{} |\n",
                h.location,
                h.reported_at.strftime("%Y-%m-%d %H:%M UTC"),
                h.pulls,
                h.removals,
                if h.removal_limit.is_some() {
                    " (over max_removals)"
                } else {
                    ""
                }
            ));
        }
    }
    fold(&detail, "Details", &mut out);
    out
}

/// A plan as a comment; `host` says whose store it was planned against.
pub fn plan_markdown(
    plan: &Plan,
    host: &str,
    warnings: &[String],
    size: &dyn Fn(u64) -> String,
) -> String {
    let mut out = format!("### imagectl plan: `{host}`\n\n");
    let (mut pulls, mut download, mut tags, mut untags, mut removes, mut freed) =
        (0, 0u64, 0, 0, 0, 0u64);
    let mut removals = Vec::new();
    for a in &plan.actions {
        match a {
            Action::Pull { bytes, .. } => {
                pulls += 1;
                download += bytes.unwrap_or(0);
            }
            Action::Tag { .. } => tags += 1,
            Action::Untag { name, reason, .. } => {
                untags += 1;
                removals.push(format!("- untag `{name}` — {reason}\n"));
            }
            Action::Remove {
                names,
                bytes,
                reason,
                id,
                ..
            } => {
                removes += 1;
                freed += bytes;
                let named = if names.is_empty() {
                    format!("<none>@{}", id.short())
                } else {
                    names
                        .iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join("`, `")
                };
                removals.push(format!(
                    "- remove `{named}` ({}) — {reason}\n",
                    size(*bytes)
                ));
            }
            Action::PruneBlobs { bytes, leftovers } => freed += bytes + leftovers,
        }
    }
    if plan.is_empty() {
        out.push_str("No changes: the store matches the policy.\n");
    } else {
        out.push_str(&format!(
            "{} ({}) · {} · {} · {} (frees {})\n",
            bold(pulls, "to pull", "to pull"),
            size(download),
            bold(tags, "to tag", "to tag"),
            bold(untags, "to untag", "to untag"),
            bold(removes, "to remove", "to remove"),
            size(freed)
        ));
    }
    if let Some(line) = referrers_line(&plan.replication) {
        out.push_str(&format!("\n{line}\n"));
    }
    let mut alerts = warnings.to_vec();
    alerts.extend(plan.failures.iter().map(|f| {
        format!(
            "`{}` ({}) could not be resolved: {} — nothing in it is removed",
            f.repository, f.entry, f.error
        )
    }));
    alerts.extend(plan.replication.failures.iter().cloned());
    warning_block(&alerts, &mut out);
    if !removals.is_empty() {
        out.push_str("\n**Removals**\n\n");
        out.extend(removals);
    }
    if !plan.is_empty() {
        let text = render_text(plan, size);
        fold(&format!("```diff\n{text}```\n"), "Plan", &mut out);
    }
    out
}

/// A count, in bold when it is not zero: what a reviewer's eye should land on.
fn bold(n: usize, one: &str, many: &str) -> String {
    let text = count(n, one, many);
    if n == 0 { text } else { format!("**{text}**") }
}

/// One alert block, every warning a line of it.
fn warning_block(alerts: &[String], out: &mut String) {
    if alerts.is_empty() {
        return;
    }
    out.push_str("\n> [!WARNING]\n");
    for a in alerts {
        out.push_str(&format!("> - {a}\n"));
    }
}

/// `detail` as is when short, folded when long.
fn fold(detail: &str, title: &str, out: &mut String) {
    let detail = detail.trim_start_matches('\n');
    if detail.is_empty() {
        return;
    }
    let lines = detail.lines().count();
    if lines > FOLD_AFTER {
        out.push_str(&format!(
            "\n<details><summary>{title} ({lines} lines)</summary>\n\n{detail}\n</details>\n"
        ));
    } else {
        out.push('\n');
        out.push_str(detail);
    }
}
