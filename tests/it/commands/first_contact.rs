//! What a new user meets first: help texts that say what the commands do, templates that
//! fail on a misspelt field, and man pages for every command.

use std::collections::BTreeSet;

use super::{fails_with_one_line, ok, run, two};
use crate::support::TestEnv;

/// The compressions `load --help` lists (the words inside "(plain, gzip, … or bzip2)").
fn listed_compressions(help: &str) -> Vec<String> {
    let inner = help
        .split_once("tar (plain, ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inner, _)| inner)
        .unwrap_or_else(|| panic!("load's help lists no compressions: {help}"));
    std::iter::once("plain".to_string())
        .chain(
            inner
                .replace(" or ", ", ")
                .split(", ")
                .map(|w| w.trim().to_string()),
        )
        .collect()
}

/// `load --help` (and `imagectl --help`) list exactly the compressions `save --compress`
/// writes, and an archive in each of them loads.
#[test]
fn load_help_lists_what_load_reads() {
    let t = two();
    let env = TestEnv::new();
    let top = ok(&env, &["--help"]);
    let help = ok(&env, &["load", "--help"]);
    let listed = listed_compressions(&help);
    assert_eq!(listed_compressions(&top), listed, "{top}");
    let save_help = ok(&env, &["save", "--help"]);
    let writable: BTreeSet<String> = ["gzip", "zstd", "xz", "bzip2"]
        .into_iter()
        .filter(|c| save_help.contains(&format!("- {c}")))
        .map(String::from)
        .collect();
    assert_eq!(
        listed.iter().cloned().collect::<BTreeSet<_>>(),
        writable.into_iter().chain(["plain".to_string()]).collect(),
        "load lists what save writes"
    );
    for c in &listed {
        let compress = if c == "plain" { "none" } else { c.as_str() };
        let file = t.env.root.path().join(format!("a-{compress}.tar"));
        let path = file.to_str().unwrap();
        ok(&t.env, &["save", "--compress", compress, "-o", path, &t.r1]);
        let fresh = TestEnv::new();
        let out = ok(&fresh, &["load", "-i", path]);
        assert!(out.contains("Loaded image:"), "{c}: {out}");
    }
}

/// `apply --help` says that without a terminal --yes is needed, and apply behaves so.
#[test]
fn apply_help_says_yes_is_needed_without_a_terminal() {
    let env = TestEnv::new();
    let help = ok(&env, &["apply", "--help"]);
    assert!(help.contains("Without a terminal"), "{help}");
    assert!(
        !help.contains("Do not ask before removing images"),
        "{help}"
    );
    let t = two();
    let fresh = TestEnv::new();
    let policy = fresh.write_policy(&format!(
        "version: 1\nimages:\n  - name: {}\n    tags: [\"1.0\"]\n",
        t.reg.reference("demo/app")
    ));
    // Only a pull is planned, yet stdin is not a terminal: nothing happens without --yes.
    let out = run(&fresh, &["apply", "-f", policy.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("--yes"), "{text}");
    assert!(
        !fresh.store.join("index.json").exists(),
        "nothing was written"
    );
}

/// A field or function a template does not know is an error naming it, exit 1, for every
/// command that takes `--format` or `-f` templates (docker: `map has no entry for key`).
#[test]
fn unknown_template_fields_are_errors() {
    let t = two();
    let cases: [&[&str]; 6] = [
        &["images", "--format", "{{.Nope}}"],
        &["inspect", "-f", "{{.Nope}}", &t.r1],
        &["history", "--format", "{{.Nope}}", &t.r1],
        &["df", "-v", "--format", "{{.Nope}}"],
        &[
            "tags",
            "--format",
            "{{.Nope}}",
            &t.reg.reference("demo/app"),
        ],
        &["images", "--format", "{{nope .ID}}"],
    ];
    for args in cases {
        let line = fails_with_one_line(&run(&t.env, args), &format!("{args:?}"));
        assert!(
            line.contains("nope") || line.contains("Nope"),
            "{args:?}: {line}"
        );
    }
    // Fields that exist but are empty still print as empty, as in docker.
    let out = ok(&t.env, &["inspect", "-f", "[{{.Variant}}]", &t.r1]);
    assert_eq!(out.trim(), "[]");
}

/// `imagectl manpages DIR` writes a roff page for every command and subcommand, each
/// naming its command and carrying its help text.
#[test]
fn man_pages_for_every_command() {
    use clap::CommandFactory as _;
    let env = TestEnv::new();
    let dir = env.root.path().join("man1");
    ok(&env, &["manpages", dir.to_str().unwrap()]);
    let mut want = vec![("imagectl".to_string(), String::new())];
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, String)>) {
        for sub in cmd.get_subcommands() {
            let name = format!("{prefix}-{}", sub.get_name());
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            out.push((name.clone(), about));
            walk(sub, &name, out);
        }
    }
    let cli = imagectl::cli::Cli::command();
    walk(&cli, "imagectl", &mut want);
    assert!(want.len() > 25, "{want:?}");
    for (name, about) in &want {
        let page = std::fs::read_to_string(dir.join(format!("{name}.1")))
            .unwrap_or_else(|e| panic!("{name}.1: {e}"))
            .replace("\\-", "-")
            .replace("\\*(Aq", "'");
        assert!(
            page.starts_with(".ie") || page.contains(".TH"),
            "{name}: {page}"
        );
        assert!(
            page.contains(&format!(".TH {name} 1")),
            "{name}: no title line"
        );
        let first_words: String = about
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            page.contains(&first_words),
            "{name}: {first_words:?} missing"
        );
    }
}
