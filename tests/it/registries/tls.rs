//! TLS registries: a private CA (`ca_file`), `tls_verify: false`, client certificates
//! (`http.tls.clientcas`), scheme mismatches, and the same settings in a policy.

use super::{problem_lines, run_with_config, write_config};
use crate::support::fixtures::{MediaFormat, Standard};
use crate::support::{Registry, TestEnv};

const USER: &str = "tlsuser";
const PASS: &str = "tls-s3cret";

/// A plain registry holding demo/app:1.0, and a TLS + htpasswd registry serving the same
/// storage.
fn tls_registry_with_image() -> (Registry, Registry, String) {
    let feeder = Registry::start();
    let fx = Standard::new();
    let digest = fx.push(&feeder, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    let tls = Registry::builder()
        .tls()
        .htpasswd(USER, PASS)
        .storage_of(&feeder)
        .start();
    (feeder, tls, digest)
}

/// `imagectl --config CFG pull REF` with the password in `TLS_PASSWORD`.
fn pull(env: &TestEnv, cfg: &std::path::Path, reference: &str) -> (bool, String) {
    let out = env
        .imagectl()
        .env("TLS_PASSWORD", PASS)
        .arg("--config")
        .arg(cfg)
        .args(["pull", reference])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn single_error_line(err: &str) -> &str {
    let problems = problem_lines(err);
    assert_eq!(problems.len(), 1, "one error line expected: {err}");
    problems[0]
}

/// With the CA in `ca_file` and credentials from `password_env`, a pull from a TLS
/// registry with basic auth works; without the CA it fails with one line saying to set
/// `ca_file`; `tls_verify: false` works without the CA.
#[test]
fn private_ca_credentials_and_tls_verify() {
    let (_feeder, reg, digest) = tls_registry_with_image();
    let reference = reg.reference("demo/app:1.0");
    let creds = format!("username: {USER}, password_env: TLS_PASSWORD");

    let env = TestEnv::new();
    let cfg = write_config(
        &env,
        &format!(
            "registries:\n  \"{}\": {{ ca_file: \"{}\", {creds} }}\n",
            reg.host(),
            reg.pki().ca.display()
        ),
    );
    let (ok, err) = pull(&env, &cfg, &reference);
    assert!(ok, "{err}");
    let v = crate::support::cli::skopeo_inspect_store(&env.store, &reference);
    assert_eq!(v["Digest"], digest.as_str());

    // HTTPS asked for (insecure: false) but the CA is unknown.
    let env = TestEnv::new();
    let cfg = write_config(
        &env,
        &format!(
            "registries:\n  \"{}\": {{ insecure: false, {creds} }}\n",
            reg.host()
        ),
    );
    let (ok, err) = pull(&env, &cfg, &reference);
    assert!(!ok);
    let line = single_error_line(&err);
    assert!(
        line.contains("ca_file") && line.contains("tls_verify: false"),
        "{err}"
    );
    assert!(
        !env.store.join("index.json").exists()
            || env.store_index()["manifests"] == serde_json::json!([])
    );

    let env = TestEnv::new();
    let cfg = write_config(
        &env,
        &format!(
            "registries:\n  \"{}\": {{ tls_verify: false, {creds} }}\n",
            reg.host()
        ),
    );
    let (ok, err) = pull(&env, &cfg, &reference);
    assert!(ok, "{err}");
    assert!(!err.contains(PASS), "secret leaked: {err}");
}

/// Plain HTTP to a TLS registry (the loopback default, or `insecure: true`) and HTTPS to a
/// plain registry each fail with one line saying which setting to change.
#[test]
fn scheme_mismatches_give_clear_errors() {
    let (feeder, reg, _) = tls_registry_with_image();
    let env = TestEnv::new();
    // No settings: loopback means plain HTTP, which the TLS registry refuses.
    let out = env.run(&["pull", &reg.reference("demo/app:1.0")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = single_error_line(&err);
    assert!(
        line.contains("speaks HTTPS") && line.contains("ca_file"),
        "{err}"
    );
    let cfg = write_config(
        &env,
        &format!("registries:\n  \"{}\": {{ insecure: true }}\n", reg.host()),
    );
    let (ok, _, err) = run_with_config(&env, &cfg, &["pull", &reg.reference("demo/app:1.0")]);
    assert!(!ok);
    assert!(single_error_line(&err).contains("speaks HTTPS"), "{err}");

    // HTTPS (a CA configured) to the plain-HTTP registry.
    let cfg = write_config(
        &env,
        &format!(
            "registries:\n  \"{}\": {{ ca_file: \"{}\" }}\n",
            feeder.host(),
            reg.pki().ca.display()
        ),
    );
    let (ok, _, err) = run_with_config(&env, &cfg, &["pull", &feeder.reference("demo/app:1.0")]);
    assert!(!ok);
    let line = single_error_line(&err);
    assert!(
        line.contains("plain HTTP") && line.contains("insecure: true"),
        "{err}"
    );
}

/// `apply` reads the same settings from a policy's `registries:`.
#[test]
fn policy_registries_configure_tls_and_credentials() {
    let (_feeder, reg, digest) = tls_registry_with_image();
    let env = TestEnv::new();
    let policy = env.write_policy(&format!(
            "version: 1\nregistries:\n  \"{host}\": {{ ca_file: \"{ca}\", username: {USER}, password_env: TLS_PASSWORD }}\nimages:\n  - name: {host}/demo/app\n    tags: [\"1.0\"]\n",
            host = reg.host(),
            ca = reg.pki().ca.display()
        ));
    let out = env
        .imagectl()
        .env("TLS_PASSWORD", PASS)
        .args(["apply", "--yes", "-f"])
        .arg(&policy)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v = crate::support::cli::skopeo_inspect_store(&env.store, &reg.reference("demo/app:1.0"));
    assert_eq!(v["Digest"], digest.as_str());
}

/// A registry that requires a client certificate accepts `client_cert`/`client_key` and
/// fails with one line naming them without.
#[test]
fn client_certificates() {
    let feeder = Registry::start();
    let fx = Standard::new();
    let digest = fx.push(&feeder, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    let reg = Registry::builder()
        .require_client_cert()
        .storage_of(&feeder)
        .start();
    let reference = reg.reference("demo/app:1.0");
    let pki = reg.pki();

    let env = TestEnv::new();
    let cfg = write_config(
        &env,
        &format!(
            "registries:\n  \"{}\":\n    ca_file: \"{}\"\n    client_cert: \"{}\"\n    client_key: \"{}\"\n",
            reg.host(),
            pki.ca.display(),
            pki.client_cert.display(),
            pki.client_key.display()
        ),
    );
    let (ok, _, err) = run_with_config(&env, &cfg, &["pull", &reference]);
    assert!(ok, "{err}");
    let v = crate::support::cli::skopeo_inspect_store(&env.store, &reference);
    assert_eq!(v["Digest"], digest.as_str());

    let env = TestEnv::new();
    let cfg = write_config(
        &env,
        &format!(
            "registries:\n  \"{}\": {{ ca_file: \"{}\" }}\n",
            reg.host(),
            pki.ca.display()
        ),
    );
    let (ok, _, err) = run_with_config(&env, &cfg, &["pull", &reference]);
    assert!(!ok);
    let line = single_error_line(&err);
    assert!(line.contains("client_cert"), "{err}");
}

/// A mirror serving HTTPS with a private CA is trusted through its own entry's `ca_file`
/// (and its credentials); the upstream here has nothing listening.
#[test]
fn https_mirror_uses_its_own_entry_for_ca_and_credentials() {
    let (_feeder, mirror, digest) = tls_registry_with_image();
    let refusing = crate::support::registry::dead_port();
    let upstream_host = format!("127.0.0.1:{}", refusing.port());
    let env = TestEnv::new();
    let cfg = write_config(
        &env,
        &format!(
            "registries:\n  \"{upstream_host}\":\n    mirrors: [\"{url}\"]\n  \"{host}\":\n    ca_file: \"{ca}\"\n    username: {USER}\n    password_env: TLS_PASSWORD\n",
            url = mirror.url(),
            host = mirror.host(),
            ca = mirror.pki().ca.display()
        ),
    );
    let reference = format!("{upstream_host}/demo/app:1.0");
    let (ok, err) = pull(&env, &cfg, &reference);
    assert!(ok, "{err}");
    let v = crate::support::cli::skopeo_inspect_store(&env.store, &reference);
    assert_eq!(v["Digest"], digest.as_str());
}
