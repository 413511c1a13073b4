//! The plan as a person reads it: `+` adds, `~` renames, `-` removes, with sizes.

use super::budget::human;
use super::model::{Action, DiskBudget, Plan};
use super::replica_model::{ReplicaAction, ReplicaPlan};

/// Render `plan`; `size` formats byte counts (the CLI passes docker's SI style).
pub fn render_text(plan: &Plan, size: &dyn Fn(u64) -> String) -> String {
    let mut out = String::new();
    let short = |d: &crate::oci::Digest| d.short().to_string();
    for f in &plan.failures {
        out.push_str(&format!(
            "! {} ({}): {} — nothing in this repository will be removed\n",
            f.repository, f.entry, f.error
        ));
    }
    let (mut pulls, mut download, mut unknown) = (0, 0u64, false);
    let (mut tags, mut untags, mut removals, mut prune, mut freed) = (0, 0, 0, false, 0u64);
    for a in &plan.actions {
        match a {
            Action::Pull {
                name,
                digest,
                replaces,
                bytes,
                ..
            } => {
                pulls += 1;
                match bytes {
                    Some(b) => download += b,
                    None => unknown = true,
                }
                let what = bytes
                    .map(|b| format!(", {} to download", size(b)))
                    .unwrap_or_default();
                let replacing = replaces
                    .as_ref()
                    .map(|r| format!(", replaces {}", short(r)))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "+ pull    {name} ({}{what}{replacing})\n",
                    short(digest)
                ));
            }
            Action::Tag { source, target } => {
                tags += 1;
                out.push_str(&format!("~ tag     {target} ← {source}\n"));
            }
            Action::Untag { name, id, reason } => {
                untags += 1;
                out.push_str(&format!(
                    "- untag   {name} (image {}: {reason})\n",
                    short(id)
                ));
            }
            Action::Remove {
                id,
                names,
                bytes,
                reason,
                ..
            } => {
                removals += 1;
                freed += bytes;
                let named = if names.is_empty() {
                    "<none>".to_string()
                } else {
                    names
                        .iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                out.push_str(&format!(
                    "- remove  {named} (image {}, frees {}: {reason})\n",
                    short(id),
                    size(*bytes)
                ));
            }
            Action::PruneBlobs { bytes, leftovers } => {
                prune = true;
                freed += bytes + leftovers;
                if *bytes > 0 {
                    out.push_str(&format!(
                        "- prune   blobs no image uses (frees {})\n",
                        size(*bytes)
                    ));
                }
                if *leftovers > 0 {
                    out.push_str(&format!(
                        "- prune   temporary files of killed imagectl runs (frees {})\n",
                        size(*leftovers)
                    ));
                }
            }
        }
    }
    for p in &plan.protected {
        out.push_str(&format!("= keep    {} ({})\n", p.name, p.reason));
    }
    let (pushes, deletions) = render_replication(&plan.replication, &mut out);
    if plan.is_empty() {
        out.push_str("No changes: the store matches the policy.\n");
    } else {
        // The same counts, in the same order, as apply's "Applied:" line.
        out.push_str(&format!(
            "Plan: {pulls} to pull ({}{}), {tags} to tag, {untags} to untag, {removals} to remove{} (frees {}).\n",
            size(download),
            if unknown { " and more" } else { "" },
            if prune { ", unused blobs to prune" } else { "" },
            size(freed)
        ));
    }
    let r = &plan.replication;
    if pushes + deletions + r.up_to_date + r.failures.len() > 0 {
        out.push_str(&format!(
            "Replication: {pushes} to push, {deletions} to delete, {} up to date.\n",
            r.up_to_date
        ));
    }
    if let Some(line) = referrers_line(r) {
        out.push_str(&line);
        out.push('\n');
    }
    if let Some(d) = &plan.disk {
        out.push_str(&disk_line(d));
    }
    if let Some(limit) = &plan.removal_limit {
        out.push_str(&format!(
            "Refused: {} removals exceed prune.max_removals ({}); apply will pull and tag but remove nothing. Review the plan, then raise max_removals in the policy if it is right.\n",
            limit.planned, limit.max
        ));
    }
    out
}

/// The store's size against `prune.max_disk` after this plan.
fn disk_line(d: &DiskBudget) -> String {
    let evicted = match d.evicted {
        0 => String::new(),
        1 => ", 1 image evicted".to_string(),
        n => format!(", {n} images evicted"),
    };
    if d.fits {
        format!(
            "Disk: {} of {} (prune.max_disk) after this plan{evicted}.\n",
            human(d.after_evictions),
            human(d.budget)
        )
    } else {
        format!(
            "Disk: {} after this plan exceeds prune.max_disk ({}){evicted}; what is left is wanted by the policy, within keep_within, foreign or protected. Raise max_disk or want fewer images.\n",
            human(d.after_evictions),
            human(d.budget)
        )
    }
}

/// What the replication's referrers come to, counted over every image a target carries
/// them for: `None` when no target carries any. The plan looked them up at the sources.
pub fn referrers_line(r: &ReplicaPlan) -> Option<String> {
    if r.referrers.is_empty() {
        return None;
    }
    let looked_up: Vec<_> = r
        .referrers
        .iter()
        .filter(|c| c.at_source.is_some())
        .collect();
    let at_source: usize = looked_up.iter().filter_map(|c| c.at_source).sum();
    let to_carry: usize = looked_up.iter().map(|c| c.to_carry).sum();
    let missing = r.referrers.len() - looked_up.len();
    let unknown = if missing == 0 {
        String::new()
    } else {
        format!("; {missing} not looked up")
    };
    Some(format!(
        "Referrers: {to_carry} to carry, {at_source} at the sources for {} replicated images (signatures, attestations, SBOMs; looked up there for this plan){unknown}.",
        r.referrers.len()
    ))
}

/// The replication lines (`>` pushes, `x` deletions in a target); returns their counts.
fn render_replication(r: &ReplicaPlan, out: &mut String) -> (usize, usize) {
    for f in &r.failures {
        out.push_str(&format!("! replica {f} — skipped\n"));
    }
    let (mut pushes, mut deletions) = (0, 0);
    for a in &r.actions {
        match a {
            ReplicaAction::Push {
                source,
                digest,
                target,
                replaces,
                platforms,
            } => {
                pushes += 1;
                let only = if platforms.is_empty() {
                    String::new()
                } else {
                    format!(", {}", platforms.join(" "))
                };
                let replacing = replaces
                    .as_ref()
                    .map(|r| format!(", replaces {}", r.short()))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "> push    {target} ← {source} ({}{only}{replacing})\n",
                    digest.short()
                ));
            }
            ReplicaAction::DeleteTag { target, reason, .. } => {
                deletions += 1;
                out.push_str(&format!("x delete  {target} ({reason})\n"));
            }
        }
    }
    for c in r.referrers.iter().filter(|c| c.to_carry > 0) {
        let of = c.at_source.map(|n| format!(" of {n}")).unwrap_or_default();
        out.push_str(&format!(
            "> refer   {} ← {} ({}{of} referrers to carry)\n",
            c.target, c.source, c.to_carry
        ));
    }
    (pushes, deletions)
}
