//! `imagectl diff` for a terminal: one line per change, `+` wanted, `-` dropped, `~`
//! moved, `*` a setting; warnings first, counts last, as `plan` prints.

use super::diff::{PolicyDiff, SettingChange};

/// Render `diff`; `size` formats byte counts.
pub fn render_diff_text(diff: &PolicyDiff, size: &dyn Fn(u64) -> String) -> String {
    let mut out = String::new();
    for w in &diff.warnings {
        out.push_str(&format!("WARNING: {w}\n"));
    }
    for f in &diff.failures {
        out.push_str(&format!(
            "! {} ({}, {} policy): {}\n",
            f.repository, f.entry, f.policy, f.error
        ));
    }
    let bytes = |b: Option<u64>| b.map(|b| format!(", {}", size(b))).unwrap_or_default();
    for r in &diff.repositories {
        out.push_str(&format!("{}\n", r.repository));
        for a in &r.added {
            out.push_str(&format!(
                "  + {} ({}{})\n",
                a.name,
                a.digest.short(),
                bytes(a.download_bytes)
            ));
        }
        for c in &r.changed {
            let old = c
                .old_pin
                .map(|f| format!("; old pin {}", f.describe()))
                .unwrap_or_default();
            out.push_str(&format!(
                "  ~ {} ({} → {}{}{old})\n",
                c.name,
                c.old_digest.short(),
                c.new_digest.short(),
                bytes(c.download_bytes)
            ));
        }
        for x in &r.removed {
            out.push_str(&format!(
                "  - {} ({}: {})\n",
                x.name,
                x.digest.short(),
                x.fate.describe()
            ));
        }
        for s in &r.settings {
            out.push_str(&format!("  * {}\n", setting(s)));
        }
    }
    if !diff.settings.is_empty() {
        out.push_str("settings\n");
        for s in &diff.settings {
            out.push_str(&format!("  * {}\n", setting(s)));
        }
    }
    for h in &diff.hosts {
        out.push_str(&format!(
            "host {} (reported {}): {} to pull, {} to remove\n",
            h.location, h.reported_at, h.pulls, h.removals
        ));
    }
    out.push_str(&summary_line(diff, size));
    out.push('\n');
    out
}

/// `Diff: 2 newly wanted (7.4MB), …` or `No changes: …`.
pub fn summary_line(diff: &PolicyDiff, size: &dyn Fn(u64) -> String) -> String {
    if diff.is_empty() {
        return "No changes: both versions want the same images with the same settings."
            .to_string();
    }
    let s = &diff.summary;
    format!(
        "Diff: {} newly wanted ({} to download), {} no longer wanted ({} removed on hosts), {}, {}.",
        s.added,
        size(s.download_bytes),
        s.removed,
        s.removed_on_hosts,
        count(s.changed, "digest changed", "digests changed"),
        count(s.settings, "setting changed", "settings changed"),
    )
}

/// `1 digest changed`, `2 digests changed`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `key: old → new`.
pub fn setting(s: &SettingChange) -> String {
    let v = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".to_string());
    format!("{}: {} → {}", s.key, v(&s.old), v(&s.new))
}
