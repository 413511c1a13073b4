//! The plan as a person reads it: `+` adds, `~` renames, `-` removes, with sizes.

use super::model::{Action, Plan};

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
    let (mut tags, mut removals, mut freed) = (0, 0, 0u64);
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
                removals += 1;
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
            Action::PruneBlobs { bytes } => {
                freed += bytes;
                out.push_str(&format!(
                    "- prune   blobs no image uses (frees {})\n",
                    size(*bytes)
                ));
            }
        }
    }
    for p in &plan.protected {
        out.push_str(&format!("= keep    {} ({})\n", p.name, p.reason));
    }
    if plan.is_empty() {
        out.push_str("No changes: the store matches the policy.\n");
    } else {
        out.push_str(&format!(
            "Plan: {pulls} to pull ({}{}), {tags} to tag, {removals} to remove (frees {}).\n",
            size(download),
            if unknown { " and more" } else { "" },
            size(freed)
        ));
    }
    if let Some(limit) = &plan.removal_limit {
        out.push_str(&format!(
            "Refused: {} removals exceed prune.max_removals ({}); apply will pull and tag but remove nothing. Review the plan, then raise max_removals in the policy if it is right.\n",
            limit.planned, limit.max
        ));
    }
    out
}
