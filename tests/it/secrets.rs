//! Secrets never reach output: with `RUST_LOG=trace` (every library's logs on, as far as
//! imagectl allows) and `-vv`, passwords and base64 `user:pass` appear nowhere in stdout or
//! stderr (text or JSON logs), nor in `run`'s report and metrics, whether the credentials
//! work or are refused.

use std::process::Output;

use crate::support::fixtures::{MediaFormat, Standard};
use crate::support::http::base64_encode;
use crate::support::output::text;
use crate::support::{Registry, TestEnv};

const USER: &str = "alice";
const PASSWORD: &str = "Pw-7d1e-hunter2-secret";
const WRONG: &str = "Wrong-4b9a-not-this-one";

/// Asserts no form of either password is in the output, and that tracing was really on.
fn assert_no_secrets(what: &str, out: &Output) {
    let all = text(out);
    for secret in [
        PASSWORD.to_string(),
        WRONG.to_string(),
        base64_encode(format!("{USER}:{PASSWORD}").as_bytes()),
        base64_encode(format!("{USER}:{WRONG}").as_bytes()),
        // The base64 of the password alone, and of `user:pass` without padding context.
        base64_encode(PASSWORD.as_bytes()),
    ] {
        assert!(!all.contains(&secret), "{what}: {secret} leaked:\n{all}");
    }
    assert!(
        all.contains("DEBUG") && all.contains("/v2/"),
        "{what}: debug logs of the requests were expected:\n{all}"
    );
}

/// A basic-auth registry with one image, `demo/app:1.0.0`.
fn registry() -> (Registry, String) {
    let reg = Registry::builder().htpasswd(USER, PASSWORD).start();
    let fx = Standard::new();
    fx.push(&reg, "app-v1", "demo/app:1.0.0", MediaFormat::Oci, false);
    let r = reg.reference("demo/app:1.0.0");
    (reg, r)
}

fn traced(env: &TestEnv, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = env.imagectl();
    cmd.env("RUST_LOG", "trace").arg("-vv").args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Credentials from Docker's config.json: pull succeeds, a wrong password fails, and
/// neither password shows in any log even at trace level.
#[test]
fn docker_config_credentials_stay_out_of_trace_logs() {
    let (reg, r) = registry();
    let env = TestEnv::new();

    env.docker_login(&reg.host(), USER, WRONG);
    let out = traced(&env, &["pull", &r], &[]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("rejected the credentials"),
        "{}",
        text(&out)
    );
    assert_no_secrets("wrong password", &out);

    let out = traced(&env, &["tags", &reg.reference("demo/app")], &[]);
    assert!(!out.status.success());
    assert_no_secrets("tags, wrong password", &out);

    env.docker_login(&reg.host(), USER, PASSWORD);
    let out = traced(&env, &["pull", &r], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_no_secrets("pull", &out);

    let out = traced(&env, &["tags", &reg.reference("demo/app")], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1.0.0"));
    assert_no_secrets("tags", &out);

    // The caps on the HTTP stack's logs only ever lower levels: a plain run logs nothing.
    let out = env
        .imagectl()
        .env_remove("RUST_LOG")
        .args(["tags", &reg.reference("demo/app")])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// `login` checks the password against the registry at trace level without logging it,
/// whether the registry accepts it or not.
#[test]
fn login_stays_out_of_trace_logs() {
    let (reg, _) = registry();
    let env = TestEnv::new();
    for (password, ok) in [(WRONG, false), (PASSWORD, true)] {
        let out = env
            .imagectl()
            .env("RUST_LOG", "trace")
            .args(["-vv", "login", "-u", USER, "--password-stdin", &reg.host()])
            .write_stdin(format!("{password}\n"))
            .output()
            .unwrap();
        assert_eq!(out.status.success(), ok, "{}", text(&out));
        assert_no_secrets("login", &out);
    }
}

/// Credentials from a policy's `password_env`: `plan` lists tags (a `match:` entry) and
/// resolves digests, and `apply` pulls, all at trace level without the password showing;
/// a wrong password fails the plan the same way.
#[test]
fn policy_password_env_stays_out_of_trace_logs() {
    let (reg, _) = registry();
    let env = TestEnv::new();
    let policy = env.write_policy(&format!(
            "version: 1\nregistries:\n  \"{}\":\n    username: {USER}\n    password_env: REG_PW\nimages:\n  - name: {}\n    match: '1\\..*'\n",
            reg.host(),
            reg.reference("demo/app")
        ));
    let p = policy.to_str().unwrap();

    let out = traced(&env, &["plan", "-f", p], &[("REG_PW", WRONG)]);
    assert!(
        text(&out).contains("requires authentication"),
        "{}",
        text(&out)
    );
    assert_no_secrets("plan, wrong password", &out);

    let out = traced(&env, &["plan", "-f", p], &[("REG_PW", PASSWORD)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1.0.0"), "{}", text(&out));
    assert!(text(&out).contains("tags/list"), "{}", text(&out));
    assert_no_secrets("plan", &out);

    let out = traced(&env, &["apply", "-f", p, "--yes"], &[("REG_PW", PASSWORD)]);
    assert!(out.status.success(), "{}", text(&out));
    assert_no_secrets("apply", &out);

    // The periodic mode, into a fresh store: its JSON logs, report and metrics too.
    let fresh = TestEnv::new();
    let report = fresh.root.path().join("report.json");
    let metrics = fresh.root.path().join("run.prom");
    for (password, ok) in [(WRONG, false), (PASSWORD, true)] {
        let out = traced(
            &fresh,
            &[
                "--log-format",
                "json",
                "run",
                "--once",
                "-f",
                p,
                "--report",
                report.to_str().unwrap(),
                "--metrics-file",
                metrics.to_str().unwrap(),
            ],
            &[("REG_PW", password)],
        );
        assert_eq!(out.status.success(), ok, "{}", text(&out));
        assert_no_secrets("run --once", &out);
        let written = format!(
            "{}{}",
            std::fs::read_to_string(&report).unwrap(),
            std::fs::read_to_string(&metrics).unwrap()
        );
        for secret in [PASSWORD, WRONG] {
            assert!(
                !written.contains(secret),
                "report or metrics leaked:\n{written}"
            );
        }
        assert!(written.contains("imagectl_runs_total"), "{written}");
    }
}
