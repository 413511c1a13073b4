//! The registries config file: where it is read from, what malformed files say, docker's
//! daemon.json imported, and credentials from the file and from Docker credential helpers.

use std::os::unix::fs::PermissionsExt;

use super::{run_with_config, write_config};
use crate::support::{Scenario, TestEnv};

/// Malformed config files fail before any request with `FILE:LINE:COLUMN: KEY: message`
/// lines, and leave no store behind.
#[test]
fn malformed_config_files_name_file_line_and_column() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "registries:\n  quay.io:\n    mirror: [\"https://m\"]\n",
            ":3:5: registries.quay.io.mirror:",
            "unknown key `mirror`",
        ),
        (
            "registries:\n  docker.io:\n    mirrors:\n      - mirror.example\n",
            ":4:9: registries.docker.io.mirrors[0]:",
            "https://",
        ),
        (
            "registries:\n  r.io:\n    ca_file: /ca.pem\n    client_cert: /c.pem\n",
            ":4:18: registries.r.io.client_cert:",
            "client_key",
        ),
        (
            "registries:\n  r.io:\n    insecure: true\n    tls_verify: false\n",
            ":4:17: registries.r.io.tls_verify:",
            "plain HTTP",
        ),
        (
            "images: []\n",
            ":1:1:",
            "unknown key `images`: valid keys here are registries",
        ),
        (
            "registries:\n  r.io: { username: u, password_env: P, password: x }\n",
            ":2:",
            "inline secrets are not allowed",
        ),
    ];
    for (yaml, position, message) in cases {
        let env = TestEnv::new();
        let cfg = write_config(&env, yaml);
        let (ok, _, err) = run_with_config(&env, &cfg, &["pull", "127.0.0.1:1/x:1"]);
        assert!(!ok, "{yaml}");
        let want = format!("{}{position}", cfg.display());
        assert!(err.contains(&want), "{yaml}: want {want} in {err}");
        assert!(err.contains(message), "{yaml}: want {message} in {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!env.store.exists(), "store created for a bad config");
    }
}

/// An explicit config file that does not exist is an error; the default location may be
/// absent; `IMAGECTL_CONFIG` names the file too.
#[test]
fn config_file_location() {
    let sc = Scenario::new().registry().app();
    let (reg, env) = (sc.reg(), sc.env());
    let reference = reg.reference("demo/app:1.0");
    let missing = env.root.path().join("nope.yaml");
    let (ok, _, err) = run_with_config(env, &missing, &["pull", &reference]);
    assert!(!ok);
    assert!(
        err.contains("nope.yaml") && err.contains("cannot read"),
        "{err}"
    );

    // No config anywhere: the loopback registry is plain HTTP by default.
    let out = env.run(&["pull", &reference]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // IMAGECTL_CONFIG pointing at a file that asks for HTTPS makes the pull fail.
    let cfg = write_config(
        env,
        &format!("registries:\n  \"{}\": {{ insecure: false }}\n", reg.host()),
    );
    let env2 = TestEnv::new();
    let out = env2
        .imagectl()
        .env("IMAGECTL_CONFIG", &cfg)
        .args(["pull", &reference])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("https://"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The default file under XDG_CONFIG_HOME is read.
    let xdg = env2.root.path().join("xdg");
    std::fs::create_dir_all(xdg.join("imagectl")).unwrap();
    std::fs::copy(&cfg, xdg.join("imagectl/registries.yaml")).unwrap();
    let out = env2
        .imagectl()
        .env("XDG_CONFIG_HOME", &xdg)
        .args(["pull", &reference])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the default config file was not read"
    );
}

/// `config check` reports every problem of a config file at once (for CI on a config
/// repository), accepts a good one found through `IMAGECTL_CONFIG`, and says so when there
/// is no file at the default location.
#[test]
fn config_check_lists_every_problem() {
    let env = TestEnv::new();
    let bad = write_config(
        &env,
        "registries:\n  quay.io:\n    mirrors: [\"mirror.example\"]\n  r.io:\n    insecure: true\n    tls_verify: false\n",
    );
    let out = env
        .imagectl()
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with(&format!(
            "error: {}:3:15: registries.quay.io.mirrors[0]:",
            bad.display()
        )),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "error: {}:6:17: registries.r.io.tls_verify:",
            bad.display()
        )),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let good = env.root.path().join("good.yaml");
    std::fs::write(
        &good,
        "registries:\n  quay.io:\n    mirrors: [\"https://m.example\"]\n  r.io:\n    insecure: true\n",
    )
    .unwrap();
    let out = env
        .imagectl()
        .env("IMAGECTL_CONFIG", &good)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}: ok (2 registries)\n", good.display())
    );

    let xdg = env.root.path().join("empty-xdg");
    let out = env
        .imagectl()
        .env_remove("IMAGECTL_CONFIG")
        .env("XDG_CONFIG_HOME", &xdg)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("no registries config:"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `config import-docker` turns daemon.json's registry-mirrors and insecure-registries
/// into a config file that imagectl then uses; a CIDR range becomes a comment.
#[test]
fn import_docker_daemon_json() {
    let sc = Scenario::new().registry().app();
    let (reg, env) = (sc.reg(), sc.env());
    let daemon = sc.write(
        "daemon.json",
        &format!(
            r#"{{"registry-mirrors": ["https://mirror.gcr.io"], "insecure-registries": ["{}", "10.0.0.0/8"], "storage-driver": "overlay2"}}"#,
            reg.host()
        ),
    );
    let out = env
        .imagectl()
        .args(["config", "import-docker"])
        .arg(&daemon)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(
        yaml.contains("  docker.io:\n    mirrors:\n      - \"https://mirror.gcr.io\"\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains(&format!("  \"{}\":\n    insecure: true\n", reg.host())),
        "{yaml}"
    );
    assert!(
        yaml.contains("# insecure-registries entry \"10.0.0.0/8\" is a CIDR range"),
        "{yaml}"
    );
    let cfg = write_config(env, &yaml);
    let (ok, _, err) = run_with_config(env, &cfg, &["pull", &reg.reference("demo/app:1.0")]);
    assert!(ok, "{err}");

    let out = env
        .imagectl()
        .args(["config", "import-docker"])
        .arg(env.root.path().join("missing.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));
}

/// Writes an executable `docker-credential-NAME` that answers `get` with `user`/`secret`
/// for any server and logs each server URL it was asked about; returns its directory.
fn fake_helper(env: &TestEnv, name: &str, user: &str, secret: &str) -> std::path::PathBuf {
    let dir = env.root.path().join("helpers");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join(format!("{name}.log"));
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread -r server\necho \"$server\" >> '{}'\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}\\n' \"$server\"\n",
        log.display()
    );
    let path = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Docker's `credsStore` and `credHelpers` run the named `docker-credential-*` program,
/// and its secret authenticates the pull; the secret never shows in `-vv` output.
#[test]
fn docker_credential_helpers_supply_credentials() {
    let sc = Scenario::new()
        .authenticated("helper-user", "helper-pw-42")
        .app();
    let reg = sc.reg();
    let reference = reg.reference("demo/app:1.0");
    for config in [
        r#"{"credsStore": "itfake"}"#.to_string(),
        format!(r#"{{"credHelpers": {{"{}": "itfake"}}}}"#, reg.host()),
    ] {
        let env = TestEnv::new();
        let helpers = fake_helper(&env, "itfake", "helper-user", "helper-pw-42");
        std::fs::create_dir_all(env.home.join(".docker")).unwrap();
        std::fs::write(env.home.join(".docker/config.json"), &config).unwrap();
        let path = format!("{}:{}", helpers.display(), std::env::var("PATH").unwrap());
        let out = env
            .imagectl()
            .env("PATH", &path)
            .args(["-vv", "pull", &reference])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{config}: {err}");
        assert!(!err.contains("helper-pw-42"), "secret in the log: {err}");
        let asked = std::fs::read_to_string(helpers.join("itfake.log")).unwrap();
        assert!(asked.contains(&reg.host()), "{asked}");

        // A helper returning a wrong secret: the registry refuses, the pull fails.
        let env = TestEnv::new();
        let helpers = fake_helper(&env, "itfake", "helper-user", "wrong");
        std::fs::create_dir_all(env.home.join(".docker")).unwrap();
        std::fs::write(env.home.join(".docker/config.json"), &config).unwrap();
        let path = format!("{}:{}", helpers.display(), std::env::var("PATH").unwrap());
        let out = env
            .imagectl()
            .env("PATH", &path)
            .args(["pull", &reference])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("rejected the credentials"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Credentials in the config file (`password_file`) take precedence over config.json.
#[test]
fn config_file_password_file_beats_docker_config() {
    let sc = Scenario::new()
        .authenticated("cfg-user", "cfg-pw")
        .app()
        .logged_in("cfg-user", "wrong-password")
        .file("pw", "cfg-pw\n")
        .config(
            "registries:\n  \"{registry}\": { username: cfg-user, password_file: \"{dir}/pw\" }\n",
        );
    let reference = sc.reference("demo/app:1.0");
    let (ok, _, err) = run_with_config(sc.env(), sc.config_path(), &["pull", &reference]);
    assert!(ok, "{err}");
}
