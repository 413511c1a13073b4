//! Policy files: `imagectl validate -f PATH` accepts every example under policies/ and the
//! design's example, and refuses malformed or dangerous policies with one
//! `error: FILE:LINE:COLUMN: KEY: MESSAGE` line per problem and exit 1.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::TestEnv;

const DIGEST: &str = "sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7";

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn validate(env: &TestEnv, path: &Path) -> Output {
    env.imagectl()
        .args(["validate", "-f"])
        .arg(path)
        .output()
        .expect("run imagectl validate")
}

/// Writes `text` to `name` under the env's root and returns the path.
fn write(env: &TestEnv, name: &str, text: &str) -> PathBuf {
    let p = env.root.path().join(name);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

/// The `error:` lines of a failed validation (asserting exit 1 and no panic), prefix removed.
fn errors(out: &Output) -> Vec<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1; stdout: {} stderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty(), "stdout on failure: {:?}", out.stdout);
    let lines: Vec<String> = stderr
        .lines()
        .map(|l| {
            l.strip_prefix("error: ")
                .unwrap_or_else(|| panic!("line without `error: `: {l:?}"))
                .to_string()
        })
        .collect();
    assert!(!lines.is_empty());
    lines
}

/// One expected error: `FILE:LINE:COLUMN` suffix (or "" for a positionless one), key, gist.
type Want = (&'static str, &'static str, &'static str);

/// Validates `yaml` as a file and asserts exactly the `want` errors, in order.
fn assert_errors(env: &TestEnv, case: &str, yaml: &str, want: &[Want]) {
    let file = write(env, &format!("{case}.yaml"), yaml);
    let got = errors(&validate(env, &file));
    assert_errors_in(&file, case, &got, want);
}

fn assert_errors_in(file: &Path, case: &str, got: &[String], want: &[Want]) {
    assert_eq!(got.len(), want.len(), "{case}: got {got:#?}");
    for (line, (pos, key, gist)) in got.iter().zip(want) {
        let prefix = if pos.is_empty() {
            format!("{}: {key}: ", file.display())
        } else {
            format!("{}:{pos}: {key}: ", file.display())
        };
        assert!(
            line.starts_with(&prefix),
            "{case}: want prefix {prefix:?} in {line:?}"
        );
        assert!(line.contains(gist), "{case}: want {gist:?} in {line:?}");
    }
}

/// Every Kubernetes example passes the API schemas offline (`kubernetes-validate --strict`),
/// and the policies its ConfigMaps carry pass `imagectl validate`.
#[test]
fn kubernetes_examples_validate() {
    let env = TestEnv::new();
    let dir = repo_path("examples/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    let out = crate::support::tools::tool("kubernetes-validate")
        .arg("--strict")
        .args(&files)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!said.contains("WARN") && !said.contains("ERROR"), "{said}");
    let mut policies = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // A ConfigMap's `policy.yaml: |` block, its indentation removed.
        let mut lines = text
            .lines()
            .skip_while(|l| !l.trim_end().ends_with("policy.yaml: |"));
        if lines.next().is_none() {
            continue;
        }
        let body: Vec<&str> = lines
            .take_while(|l| l.starts_with("    ") || l.trim().is_empty())
            .collect();
        let policy = body
            .iter()
            .map(|l| l.get(4..).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let path = env.root.path().join(format!("policy-{policies}.yaml"));
        std::fs::write(&path, policy + "\n").unwrap();
        let out = validate(&env, &path);
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        policies += 1;
    }
    assert!(policies >= 1, "no ConfigMap policy found");
}

/// Every example policy under policies/ (files and the gitops directory) validates.
#[test]
fn examples_validate() {
    let env = TestEnv::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(repo_path("policies")).unwrap() {
        let p = entry.unwrap().path();
        let is_yaml = p.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if !(is_yaml || p.is_dir()) {
            continue;
        }
        let out = validate(&env, &p);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.starts_with(&format!("{}: ok (", p.display())),
            "{stdout}"
        );
        checked += 1;
    }
    assert!(checked >= 5, "found {checked} examples");
    let out = validate(&env, &repo_path("policies/gitops"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "{}: ok (4 images, 1 registries)",
            repo_path("policies/gitops").display()
        )
    );
}

const DESIGN: &str = r#"version: 1
store: { path: /var/lib/imagectl }
registries:
  "harbor.internal:30002": { insecure: true, username: ci, password_env: HARBOR_PASSWORD }
defaults: { platforms: [linux/amd64] }
images:
  - name: nginx                               # docker.io/library/nginx
    tags: ["1.23", "1.25-alpine"]
  - name: harbor.internal:30002/app/api
    match: '^v\d+\.\d+\.\d+$'                 # or semver: ">=1.2, <2"
    keep: 3                                   # newest 3 matching tags (by semver, created or name)
  - name: busybox@DIGEST                      # pinned digest
    also_tag: ["registry.local/base/busybox:stable"]
prune:
  dangling: true                              # untagged images and unreferenced blobs
  unmanaged: keep                             # keep | remove images no entry declares
  keep_within: 72h                            # never remove what was pulled or used this recently
  max_disk: 20GiB                             # evict least recently used above this
  max_removals: 50                            # refuse a run that would remove more
schedule: "0 */6 * * *"                       # for `imagectl run`
"#;

/// The design document's example policy loads, with `mirrors:` and a `replicate:` target.
#[test]
fn design_example() {
    let env = TestEnv::new();
    let file = write(&env, "design.yaml", &DESIGN.replace("DIGEST", DIGEST));
    let out = validate(&env, &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{}: ok (3 images, 1 registries)", file.display())
    );
    let with_mirrors = DESIGN.replace("DIGEST", DIGEST).replace(
        "registries:\n",
        "registries:\n  docker.io: { mirrors: [\"https://mirror.gcr.io\"] }\n",
    ) + "replicate:\n  - to: harbor.internal:30002/mirror\n    platforms: [linux/amd64]\n";
    let file = write(&env, "design-replicate.yaml", &with_mirrors);
    let out = validate(&env, &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// YAML that does not parse, or parses to the wrong shape, is one error at its position
/// with the key it belongs to.
#[test]
fn syntax_and_type_errors() {
    let env = TestEnv::new();
    let cases: &[(&str, &str, &[Want])] = &[
        (
            "unclosed",
            "version: 1\nimages: [\n",
            &[("2:9", "images", "unclosed bracket")],
        ),
        (
            "bad-indent",
            "version: 1\nimages: []\n  bad: indent\n",
            &[("3:3", "images", "did not find expected key")],
        ),
        (
            "tabs",
            "version: 1\nimages:\n\t- name: nginx\n",
            &[("3:2", "images", "tab")],
        ),
        (
            "list-is-number",
            "version: 1\nimages: 5\n",
            &[("2:9", "images", "expected a list")],
        ),
        (
            "list-is-mapping",
            "version: 1\nimages: {name: nginx}\n",
            &[("2:9", "images", "expected a list")],
        ),
        (
            "null-list",
            "version: 1\nimages:\n  - name: nginx\n    tags:\n",
            &[("4:9", "images[0].tags", "expected a list")],
        ),
        (
            "tilde-list",
            "version: 1\nimages:\n  - name: nginx\n    tags: ~\n",
            &[("4:11", "images[0].tags", "expected a list")],
        ),
        (
            "null-string",
            "version: 1\nimages:\n  - name: ~\n    tags: [a]\n",
            &[("3:11", "images[0].name", "null")],
        ),
        (
            "name-is-list",
            "version: 1\nimages:\n  - name: [nginx]\n",
            &[("3:11", "images[0].name", "expected a string")],
        ),
        (
            "keep-is-word",
            "version: 1\nimages:\n  - name: nginx\n    keep: three\n",
            &[("4:11", "images[0].keep", "whole number")],
        ),
        (
            "yes-is-not-a-boolean",
            "version: 1\nregistries:\n  a.io: {insecure: yes}\n",
            &[("3:20", "registries.a.io.insecure", "true or false")],
        ),
        (
            "unknown-top-level",
            "version: 1\nimagez: []\n",
            &[(
                "2:1",
                "imagez",
                "unknown key `imagez`: valid keys here are version, store",
            )],
        ),
        (
            "unknown-nested",
            "version: 1\nimages:\n  - name: nginx\n    tag: [\"1.25\"]\n",
            &[("4:5", "images[0].tag", "unknown key `tag`")],
        ),
        (
            "unknown-in-prune",
            "version: 1\nprune:\n  keep_last: 3\n",
            &[("3:3", "prune.keep_last", "unknown key `keep_last`")],
        ),
        (
            "unknown-enum",
            "version: 1\nprune:\n  unmanaged: delete\n",
            &[("3:14", "prune.unmanaged", "delete")],
        ),
        (
            "duplicate-key",
            "version: 1\nimages:\n  - name: nginx\n    tags: [a]\n    name: busybox\n",
            &[("5:5", "images[0].name", "duplicate")],
        ),
        (
            "two-documents",
            "version: 1\n---\nversion: 1\n",
            &[("2:1", "version", "more than one YAML document")],
        ),
        (
            "version-is-text",
            "version: one\n",
            &[("1:10", "version", "whole number")],
        ),
    ];
    for (case, yaml, want) in cases {
        if *case == "two-documents" {
            let file = write(&env, "two.yaml", yaml);
            let got = errors(&validate(&env, &file));
            assert_eq!(got.len(), 1, "{got:?}");
            assert!(got[0].contains("document"), "{got:?}");
            continue;
        }
        assert_errors(&env, case, yaml, want);
    }
}

/// Values that parse but mean nothing (bad ranges, patterns, counts, platforms, schedules,
/// durations, names) are reported with their key and what to write instead.
#[test]
fn semantic_errors() {
    let env = TestEnv::new();
    let img = |body: &str| format!("version: 1\nimages:\n  - name: nginx\n{body}");
    let cases: Vec<(&str, String, Vec<Want>)> = vec![
        (
            "bad-range",
            img("    semver: \"not-a-range\"\n"),
            vec![("4:13", "images[0].semver", "is not a version range")],
        ),
        (
            "impossible-range",
            img("    semver: \">=2, <1\"\n"),
            vec![("4:13", "images[0].semver", "can never match")],
        ),
        (
            "impossible-exact",
            img("    semver: \"=1.2.3, =1.2.4\"\n"),
            vec![("4:13", "images[0].semver", "can never match")],
        ),
        (
            "bad-regex",
            img("    match: '[a-'\n"),
            vec![(
                "4:12",
                "images[0].match",
                "invalid regular expression \"[a-\": unclosed character class",
            )],
        ),
        (
            "keep-0",
            img("    keep: 0\n"),
            vec![("4:11", "images[0].keep", "keep is 0 but must be at least 1")],
        ),
        (
            "keep-negative",
            img("    keep: -2\n"),
            vec![("4:11", "images[0].keep", "must be at least 1")],
        ),
        (
            "by-alone",
            img("    by: created\n"),
            vec![("4:9", "images[0].by", "add match, semver or keep")],
        ),
        (
            "selects-nothing",
            img(""),
            vec![("3:5", "images[0]", "selects nothing")],
        ),
        (
            "tag-in-name",
            "version: 1\nimages:\n  - name: nginx:1.25\n".into(),
            vec![("3:11", "images[0].name", "put tags under tags:")],
        ),
        (
            "bad-name",
            "version: 1\nimages:\n  - name: Nginx\n    tags: [a]\n".into(),
            vec![("3:11", "images[0].name", "must be lowercase")],
        ),
        (
            "missing-name",
            "version: 1\nimages:\n  - tags: [a]\n".into(),
            vec![("3:5", "images[0].name", "name is missing")],
        ),
        (
            "bad-tag",
            img("    tags: [\"-x\", \"ok\", \"ok\"]\n"),
            vec![
                ("4:12", "images[0].tags[0]", "not a valid tag"),
                ("4:24", "images[0].tags[2]", "listed twice"),
            ],
        ),
        (
            "pin-with-tags",
            format!(
                "version: 1\nimages:\n  - name: busybox@{DIGEST}\n    tags: [\"1.36\"]\n    keep: 2\n"
            ),
            vec![
                ("4:12", "images[0].tags[0]", "a pinned digest has no tags"),
                (
                    "5:11",
                    "images[0].keep",
                    "a pinned digest cannot select tags",
                ),
            ],
        ),
        (
            "also-tag-with-selector",
            img("    tags: [\"1.25\"]\n    keep: 2\n    also_tag: [\"local/nginx:x\"]\n"),
            vec![(
                "6:16",
                "images[0].also_tag",
                "exactly one tag and no selector",
            )],
        ),
        (
            "also-tag-without-tag",
            img("    tags: [\"1.25\"]\n    also_tag: [\"local/nginx\"]\n"),
            vec![("5:16", "images[0].also_tag[0]", "has no tag")],
        ),
        (
            "bad-platform",
            img("    tags: [a]\n    platforms: [linux/amd65, lunix/amd64, linux]\n"),
            vec![
                (
                    "5:17",
                    "images[0].platforms[0]",
                    "unknown architecture \"amd65\"",
                ),
                (
                    "5:30",
                    "images[0].platforms[1]",
                    "unknown operating system \"lunix\"",
                ),
                ("5:43", "images[0].platforms[2]", "invalid platform"),
            ],
        ),
        (
            "bad-schedule",
            "version: 1\nschedule: \"every day\"\n".into(),
            vec![("2:11", "schedule", "is not a cron schedule")],
        ),
        (
            "six-field-schedule",
            "version: 1\nschedule: \"0 0 */6 * * *\"\n".into(),
            vec![("2:11", "schedule", "5 fields")],
        ),
        (
            "bad-keep-within",
            "version: 1\nprune:\n  keep_within: 3 days\n".into(),
            vec![("3:16", "prune.keep_within", "72h")],
        ),
        (
            "unitless-keep-within",
            "version: 1\nprune:\n  keep_within: 72\n".into(),
            vec![("3:16", "prune.keep_within", "without a unit")],
        ),
        (
            "bad-max-removals",
            "version: 1\nprune:\n  max_removals: lots\n".into(),
            vec![("3:17", "prune.max_removals", "unlimited")],
        ),
        (
            "version-2",
            "version: 2\n".into(),
            vec![("1:10", "version", "unsupported policy version 2")],
        ),
        (
            "version-missing",
            "images: []\n".into(),
            vec![("1:1", "version", "version is missing")],
        ),
        (
            "relative-store",
            "version: 1\nstore: { path: store }\n".into(),
            vec![("2:16", "store.path", "not an absolute path")],
        ),
        (
            "two-stores",
            "version: 1\nstore: { docker: {}, containerd: {} }\n".into(),
            vec![("2:34", "store.containerd", "not several")],
        ),
        (
            "containerd-values",
            "version: 1\nstore:\n  containerd:\n    address: run/c.sock\n    namespace: \"k8s io\"\n    pull: crio\n    min_age: soon\n".into(),
            vec![
                ("4:14", "store.containerd.address", "not a containerd socket"),
                ("5:16", "store.containerd.namespace", "not a containerd namespace"),
                ("6:11", "store.containerd.pull", "write imagectl or cri"),
                ("7:14", "store.containerd.min_age", ""),
            ],
        ),
        (
            "remove-everything",
            "version: 1\nprune: { unmanaged: remove }\n".into(),
            vec![("2:8", "prune.unmanaged", "would remove every image")],
        ),
        (
            "duplicate-entry",
            img("    tags: [a]\n  - name: docker.io/library/nginx\n    tags: [b]\n"),
            vec![(
                "5:5",
                "images[1]",
                "docker.io/library/nginx is already declared at",
            )],
        ),
    ];
    for (case, yaml, want) in &cases {
        assert_errors(&env, case, yaml, want);
    }
}

/// Registry settings: hosts must be hosts, secrets never inline, one password source paired
/// with a user name.
#[test]
fn registry_errors() {
    let env = TestEnv::new();
    let reg = |body: &str| format!("version: 1\nregistries:\n{body}");
    let cases: Vec<(&str, String, Vec<Want>)> = vec![
        (
            "inline-password",
            reg("  a.io:\n    username: ci\n    password: hunter2\n"),
            vec![
                ("4:15", "registries.a.io.username", "no password source"),
                (
                    "5:15",
                    "registries.a.io.password",
                    "inline secrets are not allowed: use password_env or password_file",
                ),
            ],
        ),
        (
            "two-sources",
            reg("  a.io: { username: ci, password_env: P, password_file: /p }\n"),
            vec![("2:0", "", "")],
        ),
        (
            "user-without-source",
            reg("  a.io: { username: ci }\n"),
            vec![("3:21", "registries.a.io.username", "add password_env")],
        ),
        (
            "not-a-host",
            reg("  harbor: { insecure: true }\n"),
            vec![("3:3", "registries.harbor", "not a registry host")],
        ),
        (
            "bad-port",
            reg("  \"a.io:http\": {}\n"),
            vec![("3:3", "registries.a.io:http", "not a valid registry host")],
        ),
        (
            "bad-env-name",
            reg("  a.io: { username: ci, password_env: 1PASS }\n"),
            vec![(
                "3:39",
                "registries.a.io.password_env",
                "not an environment variable name",
            )],
        ),
        (
            "same-host-twice",
            reg("  index.docker.io: {}\n  docker.io: {}\n"),
            vec![(
                "4:3",
                "registries.docker.io",
                "docker.io is already configured at",
            )],
        ),
    ];
    for (case, yaml, want) in &cases {
        if *case == "two-sources" {
            let file = write(&env, "two-sources.yaml", yaml);
            let got = errors(&validate(&env, &file));
            assert_eq!(got.len(), 1, "{got:?}");
            assert!(
                got[0].contains(
                    "registries.a.io.password_file: password_env and password_file are both set"
                ),
                "{got:?}"
            );
            continue;
        }
        // A secret never appears in an error message.
        let file = write(&env, &format!("{case}.yaml"), yaml);
        let out = validate(&env, &file);
        assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
        assert_errors(&env, case, yaml, want);
    }
}

/// An unknown key is refused even where a hidden key such as `password` is recognized, and
/// the suggestion list never offers the refused keys.
#[test]
fn suggestions_hide_refused_keys() {
    let env = TestEnv::new();
    let file = write(
        &env,
        "typo.yaml",
        "version: 1\nregistries:\n  a.io: { usename: ci }\n",
    );
    let got = errors(&validate(&env, &file));
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("unknown key `usename`"), "{got:?}");
    assert!(got[0].contains("username"), "{got:?}");
    assert!(
        !got[0].contains("password,") && got[0].contains("mirrors"),
        "{got:?}"
    );
}

/// A file with several problems reports all of them in one run, in position order.
#[test]
fn all_errors_at_once() {
    let env = TestEnv::new();
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
        &env,
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
    let env = TestEnv::new();
    for (case, text) in [
        ("empty", ""),
        ("comments", "# nothing here\n\n"),
        ("null-doc", "---\n"),
    ] {
        assert_errors(
            &env,
            case,
            text,
            &[("1:1", "<root>", "the policy file is empty")],
        );
    }
    let dir = env.root.path().join("empty-dir");
    std::fs::create_dir_all(&dir).unwrap();
    let got = errors(&validate(&env, &dir));
    assert_errors_in(
        &dir,
        "empty dir",
        &got,
        &[("", "<root>", "the policy directory is empty")],
    );
    let dir = env.root.path().join("no-yaml");
    write(&env, "no-yaml/README.md", "# policies\n");
    write(&env, "no-yaml/.hidden.yaml", "version: 1\n");
    let got = errors(&validate(&env, &dir));
    assert_errors_in(
        &dir,
        "no yaml",
        &got,
        &[("", "<root>", "holds no *.yaml or *.yml files")],
    );
    let missing = env.root.path().join("missing.yaml");
    let got = errors(&validate(&env, &missing));
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
    let env = TestEnv::new();
    let a = write(
        &env,
        "repo/a.yaml",
        "version: 1\nimages:\n  - name: nginx\n    tags: [\"1.25\"]\nprune: { max_removals: 10 }\ndefaults: { platforms: [linux/amd64] }\n",
    );
    let b = write(
        &env,
        "repo/b.yml",
        "version: 1\nimages:\n  - name: docker.io/library/nginx\n    tags: [\"1.26\"]\nprune: { max_removals: 20 }\ndefaults: { platforms: [linux/amd64] }\n",
    );
    write(&env, "repo/notes.txt", "not a policy");
    let got = errors(&validate(&env, &env.root.path().join("repo")));
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
    write(&env, "repo/c.yaml", "version: 1\nimages: [\n");
    let got = errors(&validate(&env, &env.root.path().join("repo")));
    assert_eq!(got.len(), 3, "{got:#?}");
}

/// A billion-laughs alias bomb fails within a second with a clear error instead of
/// expanding, and so does a document nested thousands of levels deep.
#[test]
fn hostile_documents_fail_fast() {
    let env = TestEnv::new();
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
        let file = write(&env, &format!("{case}.yaml"), &text);
        let start = Instant::now();
        let out = validate(&env, &file);
        let took = start.elapsed();
        let got = errors(&out);
        assert_eq!(got.len(), 1, "{case}: {got:#?}");
        assert!(
            got[0].starts_with(&format!("{}:", file.display())),
            "{case}: {got:?}"
        );
        assert!(got[0].to_lowercase().contains(gist), "{case}: {got:?}");
        assert!(took < Duration::from_secs(1), "{case} took {took:?}");
    }
}

/// `imagectl schema` prints a JSON Schema that forbids unknown keys and knows every section.
#[test]
fn schema_describes_the_format() {
    let env = TestEnv::new();
    let out = env.imagectl().arg("schema").output().unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], serde_json::json!(["version"]));
    for key in [
        "version",
        "store",
        "registries",
        "defaults",
        "images",
        "prune",
        "schedule",
    ] {
        assert!(schema["properties"].get(key).is_some(), "{key}");
    }
    assert_eq!(schema["$defs"]["Image"]["additionalProperties"], false);
    assert!(
        schema["$defs"]["Registry"]["properties"]
            .get("password")
            .is_none()
    );
}

/// The committed `imagectl.schema.json` (which the example policies point editors at) is
/// what `imagectl schema` prints: regenerate it with `imagectl schema > imagectl.schema.json`.
#[test]
fn committed_schema_is_current() {
    let env = TestEnv::new();
    let out = env.imagectl().arg("schema").output().unwrap();
    assert!(out.status.success());
    let committed = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("imagectl.schema.json"),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&committed),
        "imagectl.schema.json is stale: run `imagectl schema > imagectl.schema.json`"
    );
}

/// Replication targets: every mistake is reported at its position with a fix.
#[test]
fn replicate_errors() {
    let env = TestEnv::new();
    let head = "version: 1\nimages:\n  - name: 127.0.0.1:5000/app\n    tags: [\"1\"]\nreplicate:\n";
    let cases: &[(&str, &str, &[Want])] = &[
        (
            "no-to",
            "  - platforms: [linux/amd64]\n",
            &[("6:5", "replicate[0]", "needs `to: HOST[:PORT][/PREFIX]`")],
        ),
        (
            "scheme",
            "  - to: https://harbor.internal/mirror\n",
            &[("6:9", "replicate[0].to", "has a scheme")],
        ),
        (
            "not-a-host",
            "  - to: mirror/path\n",
            &[("6:9", "replicate[0].to", "not a registry host")],
        ),
        (
            "bad-prefix",
            "  - to: harbor.internal/Mirror\n",
            &[(
                "6:9",
                "replicate[0].to",
                "not a valid repository path prefix",
            )],
        ),
        (
            "bad-platform",
            "  - to: harbor.internal/m\n    platforms: [linux]\n",
            &[("7:17", "replicate[0].platforms[0]", "")],
        ),
        (
            "unknown-key",
            "  - to: harbor.internal/m\n    mirror: true\n",
            &[(
                "7:5",
                "replicate[0].mirror",
                "valid keys here are to, platforms, prune",
            )],
        ),
        (
            "twice",
            "  - to: harbor.internal/m\n  - to: harbor.internal/m/\n",
            &[("7:5", "replicate[1]", "")],
        ),
        (
            "onto-itself",
            "  - to: 127.0.0.1:5000\n",
            &[("6:5", "replicate[0].to", "onto itself")],
        ),
    ];
    for (case, tail, want) in cases {
        assert_errors(&env, case, &format!("{head}{tail}"), want);
    }
}
