//! Whole inputs: several errors at once, empty files and directories, conflicts between
//! files of a directory, hostile documents.

use super::*;

/// A file with several problems reports all of them in one run, in position order.
#[test]
fn all_errors_at_once() {
    let sc = Scenario::new();
    let yaml = "version: 2
registries:
  a.io: { password: x }
images:
  - name: nginx:1.25
  - name: busybox
    keep: 0
    semver: \">=3, <2\"
    platforms: [linux/sparc]
prune:
  keep_within: soon
schedule: \"* * *\"
";
    assert_errors(
        &sc,
        "many",
        yaml,
        &[
            ("1:10", "version", "unsupported policy version 2"),
            (
                "3:21",
                "registries.a.io.password",
                "inline secrets are not allowed",
            ),
            ("5:11", "images[0].name", "put tags under tags:"),
            ("7:11", "images[1].keep", "at least 1"),
            ("8:13", "images[1].semver", "can never match"),
            ("9:17", "images[1].platforms[0]", "unknown architecture"),
            ("11:16", "prune.keep_within", "not a duration"),
            ("12:11", "schedule", "not a cron schedule"),
        ],
    );
}

/// Empty inputs are refused with a message saying what to write: an empty file, a
/// comment-only file, an empty directory, a directory without YAML files, a missing path.
#[test]
fn empty_inputs() {
    let sc = Scenario::new();
    for (case, text) in [
        ("empty", ""),
        ("comments", "# nothing here\n\n"),
        ("null-doc", "---\n"),
    ] {
        assert_errors(
            &sc,
            case,
            text,
            &[("1:1", "<root>", "the policy file is empty")],
        );
    }
    let dir = sc.env().root.path().join("empty-dir");
    std::fs::create_dir_all(&dir).unwrap();
    let got = errors(&validate(&sc, &dir));
    assert_errors_in(
        &dir,
        "empty dir",
        &got,
        &[("", "<root>", "the policy directory is empty")],
    );
    let dir = sc.env().root.path().join("no-yaml");
    sc.write("no-yaml/README.md", "# policies\n");
    sc.write("no-yaml/.hidden.yaml", "version: 1\n");
    let got = errors(&validate(&sc, &dir));
    assert_errors_in(
        &dir,
        "no yaml",
        &got,
        &[("", "<root>", "holds no *.yaml or *.yml files")],
    );
    let missing = sc.env().root.path().join("missing.yaml");
    let got = errors(&validate(&sc, &missing));
    assert_errors_in(
        &missing,
        "missing",
        &got,
        &[("", "<root>", "cannot read the policy")],
    );
}

/// In a directory, a repository declared in two files and a `prune` set differently in two
/// files are errors naming both places; identical copies of a section are accepted.
#[test]
fn directory_conflicts() {
    let sc = Scenario::new();
    let a = sc.write("repo/a.yaml",
        "version: 1\nimages:\n  - name: nginx\n    tags: [\"1.25\"]\nprune: { max_removals: 10 }\ndefaults: { platforms: [linux/amd64] }\n",
    );
    let b = sc.write("repo/b.yml",
        "version: 1\nimages:\n  - name: docker.io/library/nginx\n    tags: [\"1.26\"]\nprune: { max_removals: 20 }\ndefaults: { platforms: [linux/amd64] }\n",
    );
    sc.write("repo/notes.txt", "not a policy");
    let got = errors(&validate(&sc, &sc.env().root.path().join("repo")));
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got[0].starts_with(&format!(
            "{}:3:5: images[0]: docker.io/library/nginx is already declared at {}:3:5 (images[0])",
            b.display(),
            a.display()
        )),
        "{got:#?}"
    );
    assert!(
        got[1].starts_with(&format!(
            "{}:5:8: prune: conflicts with prune at {}:5:8",
            b.display(),
            a.display()
        )),
        "{got:#?}"
    );
    // A broken file does not hide the problems of the others.
    sc.write("repo/c.yaml", "version: 1\nimages: [\n");
    let got = errors(&validate(&sc, &sc.env().root.path().join("repo")));
    assert_eq!(got.len(), 3, "{got:#?}");
}

/// A billion-laughs alias bomb fails within seconds with a clear error instead of
/// expanding, and so does a document nested thousands of levels deep.
#[test]
fn hostile_documents_fail_fast() {
    let sc = Scenario::new();
    // Under a registry's `password:`, a key whose value is read whatever its shape (to
    // refuse it), so the expansion is not stopped by a type error first.
    let mut bomb = String::from(
        "version: 1\nregistries:\n  r.io:\n    password:\n      a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 10].join(",");
        bomb.push_str(&format!("      {}: &{} [{refs}]\n", w[1], w[1]));
    }
    let deep_flow = format!(
        "version: 1\nimages: {}{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let mut deep_block = String::from("version: 1\nprune:\n");
    for i in 1..200 {
        deep_block.push_str(&format!("{}k:\n", "  ".repeat(i)));
    }
    for (case, text, gist) in [
        ("bomb", bomb, "alias"),
        ("deep-flow", deep_flow, "deep"),
        ("deep-block", deep_block, "deep"),
    ] {
        let file = sc.write(&format!("{case}.yaml"), &text);
        let start = Instant::now();
        let out = validate(&sc, &file);
        let took = start.elapsed();
        let got = errors(&out);
        assert_eq!(got.len(), 1, "{case}: {got:#?}");
        assert!(
            got[0].starts_with(&format!("{}:", file.display())),
            "{case}: {got:?}"
        );
        assert!(got[0].to_lowercase().contains(gist), "{case}: {got:?}");
        // A whole process on a loaded machine, against an expansion to 10^9 strings that
        // would take minutes and tens of GiB.
        assert!(took < Duration::from_secs(20), "{case} took {took:?}");
    }
}
