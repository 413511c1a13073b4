//! Registry settings and replication targets: mistakes at their position with a fix, and
//! suggestions that never offer a refused key.

use super::*;

/// Registry settings: hosts must be hosts, secrets never inline, one password source paired
/// with a user name.
#[test]
fn registry_errors() {
    let sc = Scenario::new();
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
            "bad-sc-name",
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
            let file = sc.write("two-sources.yaml", yaml);
            let got = errors(&validate(&sc, &file));
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
        let file = sc.write(&format!("{case}.yaml"), yaml);
        let out = validate(&sc, &file);
        assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
        assert_errors(&sc, case, yaml, want);
    }
}

/// An unknown key is refused even where a hidden key such as `password` is recognized, and
/// the suggestion list never offers the refused keys.
#[test]
fn suggestions_hide_refused_keys() {
    let sc = Scenario::new();
    let file = sc.write(
        "typo.yaml",
        "version: 1\nregistries:\n  a.io: { usename: ci }\n",
    );
    let got = errors(&validate(&sc, &file));
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("unknown key `usename`"), "{got:?}");
    assert!(got[0].contains("username"), "{got:?}");
    assert!(
        !got[0].contains("password,") && got[0].contains("mirrors"),
        "{got:?}"
    );
}

/// Replication targets: every mistake is reported at its position with a fix.
#[test]
fn replicate_errors() {
    let sc = Scenario::new();
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
        assert_errors(&sc, case, &format!("{head}{tail}"), want);
    }
}
