//! Syntax, type and meaning errors: one line each, at the position of the key.

use super::*;

/// YAML that does not parse, or parses to the wrong shape, is one error at its position
/// with the key it belongs to.
#[test]
fn syntax_and_type_errors() {
    let sc = Scenario::new();
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
            let file = sc.write("two.yaml", yaml);
            let got = errors(&validate(&sc, &file));
            assert_eq!(got.len(), 1, "{got:?}");
            assert!(got[0].contains("document"), "{got:?}");
            continue;
        }
        assert_errors(&sc, case, yaml, want);
    }
}

/// Values that parse but mean nothing (bad ranges, patterns, counts, platforms, schedules,
/// durations, names) are reported with their key and what to write instead.
#[test]
fn semantic_errors() {
    let sc = Scenario::new();
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
        assert_errors(&sc, case, yaml, want);
    }
}
