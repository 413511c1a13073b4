//! `tags`, `search`, `login` and `logout` against a real registry.

use std::os::unix::fs::PermissionsExt;

use crate::errors::error_line;
use crate::support::output::stdout_ok as stdout;
use crate::support::{Scenario, TestEnv};

/// Every tag in the registry's order; JSON and templates; a tag or unknown repository is a
/// one-line error.
#[test]
fn tags_lists_every_tag() {
    let sc = Scenario::new().registry().oci_each(
        "app-v1",
        &[
            "team/app:1.0",
            "team/app:1.1",
            "team/app:2.0",
            "team/app:latest",
        ],
    );
    let (reg, env) = (sc.reg(), sc.env());
    let repo = reg.reference("team/app");
    let out = stdout(&env.run(&["tags", &repo]));
    assert_eq!(out, "1.0\n1.1\n2.0\nlatest\n");

    let out = stdout(&env.run(&["tags", &repo, "--format", "json"]));
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["name"], repo);
    assert_eq!(
        doc["tags"],
        serde_json::json!(["1.0", "1.1", "2.0", "latest"])
    );

    let out = stdout(&env.run(&["tags", &repo, "--format", "{{.Name}}:{{.Tag}}"]));
    assert_eq!(out.lines().nth(2), Some(format!("{repo}:2.0").as_str()));

    let line = error_line(&env.run(&["tags", &format!("{repo}:1.0")]));
    assert!(line.contains("without :tag"), "{line}");
    let line = error_line(&env.run(&["tags", &reg.reference("team/nothing")]));
    assert!(line.contains("team/nothing"), "{line}");
}

/// For a registry other than Docker Hub, search filters the catalog.
#[test]
fn search_filters_the_catalog() {
    let sc = Scenario::new()
        .registry()
        .oci_each("app-v1", &["team/app:1", "team/web:1", "other/tool:1"]);
    let (reg, env) = (sc.reg(), sc.env());
    let term = format!("{}/team", reg.host());
    let out = stdout(&env.run(&["search", &term]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{out}");
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[1].starts_with(&format!("{}/team/app", reg.host())),
        "{out}"
    );
    assert!(
        lines[2].starts_with(&format!("{}/team/web", reg.host())),
        "{out}"
    );

    let out = stdout(&env.run(&["search", &term, "--limit", "1", "--format", "{{.Name}}"]));
    assert_eq!(out, format!("{}/team/app\n", reg.host()));

    let out = stdout(&env.run(&["search", &format!("{}/nomatch", reg.host())]));
    assert_eq!(out.lines().count(), 1, "only the header: {out}");
}

/// login checks the password with the registry before storing anything; stored credentials
/// are used by pull; logout removes them.
#[test]
fn login_pull_logout() {
    let sc = Scenario::new().authenticated("alice", "s3cret-pw").app();
    let (reg, env) = (sc.reg(), sc.env());
    let config = env.home.join(".docker/config.json");

    let out = env
        .imagectl()
        .args(["login", &reg.host(), "-u", "alice", "--password-stdin"])
        .write_stdin("wrong-pw\n")
        .output()
        .unwrap();
    let line = error_line(&out);
    assert!(
        line.contains("rejected the user name or password"),
        "{line}"
    );
    assert!(!config.exists(), "nothing stored after a refused login");

    let out = env
        .imagectl()
        .args(["login", &reg.host(), "-u", "alice", "--password-stdin"])
        .write_stdin("s3cret-pw\n")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "Login Succeeded\n");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cret-pw"));
    let mode = std::fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(
        doc["auths"][reg.host()]["auth"],
        crate::support::http::base64_encode(b"alice:s3cret-pw")
    );

    stdout(&env.run(&["pull", &reg.reference("demo/app:1.0")]));

    let out = stdout(&env.run(&["logout", &reg.host()]));
    assert!(
        out.starts_with(&format!("Removing login credentials for {}", reg.host())),
        "{out}"
    );
    let out = stdout(&env.run(&["logout", &reg.host()]));
    assert!(out.starts_with("Not logged in"), "{out}");
    let line = error_line(&env.run(&["pull", &reg.reference("demo/app:2.0")]));
    assert!(line.contains("requires authentication"), "{line}");
}

/// With `credsStore` in config.json, login hands the secret to the helper (not the file) and
/// pull gets it back from the helper; logout erases it there.
#[test]
fn login_through_a_credential_helper() {
    let sc = Scenario::new().authenticated("bob", "helper-pw-77").app();
    let (reg, env) = (sc.reg(), sc.env());
    let vault = env.root.path().join("vault");
    std::fs::create_dir_all(&vault).unwrap();
    // A credential helper speaking docker's protocol, keeping one JSON file per server.
    let helper = sc.write(
        "bin/docker-credential-itvault",
        &format!(
            r#"#!/bin/sh
set -e
V={vault}
case "$1" in
  store) in=$(cat); server=$(printf '%s' "$in" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/');
         printf '%s' "$in" > "$V/$(printf '%s' "$server" | tr '/:' '__')" ;;
  get)   server=$(cat); f="$V/$(printf '%s' "$server" | tr '/:' '__')";
         if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) server=$(cat); rm "$V/$(printf '%s' "$server" | tr '/:' '__')" ;;
esac
"#,
            vault = vault.display()
        ),
    );
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let docker_dir = env.home.join(".docker");
    std::fs::create_dir_all(&docker_dir).unwrap();
    std::fs::write(
        docker_dir.join("config.json"),
        r#"{"credsStore":"itvault"}"#,
    )
    .unwrap();
    let bin = helper.parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());

    let out = env
        .imagectl()
        .env("PATH", &path)
        .args(["login", &reg.host(), "-u", "bob", "--password-stdin"])
        .write_stdin("helper-pw-77\n")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "Login Succeeded\n");
    let config = std::fs::read_to_string(docker_dir.join("config.json")).unwrap();
    assert!(
        !config.contains("auths"),
        "secret went to the file: {config}"
    );
    assert_eq!(std::fs::read_dir(&vault).unwrap().count(), 1);

    stdout(
        &env.imagectl()
            .env("PATH", &path)
            .args(["pull", &reg.reference("demo/app:1.0")])
            .output()
            .unwrap(),
    );
    let out = stdout(
        &env.imagectl()
            .env("PATH", &path)
            .args(["logout", &reg.host()])
            .output()
            .unwrap(),
    );
    assert!(out.contains("docker-credential-itvault"), "{out}");
    assert_eq!(std::fs::read_dir(&vault).unwrap().count(), 0);
}

/// Login input mistakes fail before any request.
#[test]
fn login_refuses_bad_input() {
    let env = TestEnv::new();
    let line = error_line(
        &env.imagectl()
            .args(["login", "not a host", "-u", "x", "--password-stdin"])
            .write_stdin("pw\n")
            .output()
            .unwrap(),
    );
    assert!(line.contains("is not a registry"), "{line}");
    let line = error_line(
        &env.imagectl()
            .args(["login", "127.0.0.1:1", "--password-stdin"])
            .write_stdin("pw\n")
            .output()
            .unwrap(),
    );
    assert!(line.contains("-u USER"), "{line}");
    let line = error_line(
        &env.imagectl()
            .args(["login", "127.0.0.1:1", "-u", "x"])
            .write_stdin("")
            .output()
            .unwrap(),
    );
    assert!(line.contains("--password-stdin"), "{line}");
}
