//! The policy's `registries:` (and a `--config` registries file): per registry host its
//! mirrors, TLS settings and credentials source, checked for contradictions (TLS settings
//! on a plain-HTTP registry, a username without a password source) and inline secrets.

use std::path::PathBuf;

use serde_saphyr::Spanned;

use super::ctx::{Ctx, Located};
use super::model::RegistrySpec;
use super::raw::RawRegistry;
use super::values;

/// Each registry of the map, checked; a host configured twice is an error at the second.
pub(crate) fn registries(
    raw: Vec<(Spanned<String>, Spanned<RawRegistry>)>,
    ctx: &mut Ctx<'_>,
) -> Vec<Located<(String, RegistrySpec)>> {
    let mut out: Vec<Located<(String, RegistrySpec)>> = Vec::new();
    for (key, value) in raw {
        let base = format!("registries.{}", key.value);
        let host = match values::parse_registry_host(&key.value) {
            Ok(h) => Some(h),
            Err(m) => {
                ctx.err(key.referenced, &base, m);
                None
            }
        };
        let spec = registry(&base, value.value, ctx);
        let (Some(host), Some(spec)) = (host, spec) else {
            continue;
        };
        if let Some(prev) = out.iter().find(|r| r.value.0 == host) {
            let msg = format!(
                "{host} is already configured at {} ({}): keep one entry per registry",
                prev.origin, prev.key
            );
            ctx.err(key.referenced, &base, msg);
            continue;
        }
        out.push(ctx.located((host, spec), key.referenced, &base));
    }
    out
}

fn non_empty(s: &Spanned<String>, key: &str, what: &str, ctx: &mut Ctx<'_>) -> bool {
    if s.value.trim().is_empty() {
        ctx.err(
            s.referenced,
            key,
            format!("{what} is empty: give a value or remove the key"),
        );
        false
    } else {
        true
    }
}

fn registry(base: &str, r: RawRegistry, ctx: &mut Ctx<'_>) -> Option<RegistrySpec> {
    let before = ctx.errors.len();
    let k = |f: &str| format!("{base}.{f}");
    if let Some(loc) = &r.password {
        ctx.err(
            loc,
            &k("password"),
            "inline secrets are not allowed: use password_env or password_file",
        );
    }
    let mut mirrors: Vec<String> = Vec::new();
    for (i, m) in r.mirrors.iter().enumerate() {
        let key = format!("{base}.mirrors[{i}]");
        match values::parse_mirror_url(&m.value) {
            Ok(url) if mirrors.contains(&url) => {
                ctx.err(m.referenced, &key, format!("mirror {url} is listed twice"))
            }
            Ok(url) => mirrors.push(url),
            Err(msg) => ctx.err(m.referenced, &key, msg),
        }
    }
    for (field, v) in [
        ("ca_file", &r.ca_file),
        ("client_cert", &r.client_cert),
        ("client_key", &r.client_key),
        ("username", &r.username),
        ("password_file", &r.password_file),
    ] {
        if let Some(v) = v {
            non_empty(v, &k(field), field, ctx);
        }
    }
    if let Some(insecure) = r.insecure.as_ref().filter(|i| i.value) {
        let tls_settings = [
            ("tls_verify", r.tls_verify.as_ref().map(|t| t.referenced)),
            ("ca_file", r.ca_file.as_ref().map(|t| t.referenced)),
            ("client_cert", r.client_cert.as_ref().map(|t| t.referenced)),
            ("client_key", r.client_key.as_ref().map(|t| t.referenced)),
        ];
        for (field, at) in tls_settings {
            if let Some(at) = at {
                ctx.err(
                    at,
                    &k(field),
                    format!("{field} is a TLS setting but insecure: true means plain HTTP (line {}): remove one of them", insecure.referenced.line()),
                );
            }
        }
    }
    match (&r.client_cert, &r.client_key) {
        (Some(c), None) => ctx.err(
            c.referenced,
            &k("client_cert"),
            "client_cert needs client_key (the PEM file of its private key)",
        ),
        (None, Some(key)) => ctx.err(
            key.referenced,
            &k("client_key"),
            "client_key needs client_cert (the PEM file of the certificate)",
        ),
        _ => {}
    }
    if let Some(env) = &r.password_env
        && let Err(m) = values::check_env_name(&env.value)
    {
        ctx.err(env.referenced, &k("password_env"), m);
    }
    match (&r.username, &r.password_env, &r.password_file) {
        (_, Some(_), Some(f)) => ctx.err(
            f.referenced,
            &k("password_file"),
            "password_env and password_file are both set: keep one password source",
        ),
        (Some(u), None, None) => ctx.err(
            u.referenced,
            &k("username"),
            "username has no password source: add password_env (an environment variable name) or password_file",
        ),
        (None, Some(s), None) | (None, None, Some(s)) => ctx.err(
            s.referenced,
            base,
            "a password source needs a username: add username (registries that take tokens accept any non-empty name)",
        ),
        _ => {}
    }
    if ctx.errors.len() > before {
        return None;
    }
    Some(RegistrySpec {
        mirrors,
        insecure: r.insecure.map(|b| b.value),
        tls_verify: r.tls_verify.map(|b| b.value).unwrap_or(true),
        ca_file: r.ca_file.map(|s| PathBuf::from(s.value)),
        client_cert: r.client_cert.map(|s| PathBuf::from(s.value)),
        client_key: r.client_key.map(|s| PathBuf::from(s.value)),
        username: r.username.map(|s| s.value),
        password_env: r.password_env.map(|s| s.value),
        password_file: r.password_file.map(|s| PathBuf::from(s.value)),
    })
}
