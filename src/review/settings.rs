//! A policy's settings as `key = value` lines, so two versions compare line by line:
//! retention per repository, prune, replication, registries, defaults, store, schedule.
//! Values are what the policy says, never a secret (credentials are only named there).

use std::collections::BTreeMap;

use crate::policy::{ImageSpec, Policy, StoreSpec, Unmanaged};

/// Settings per key.
pub type Settings = BTreeMap<String, String>;

/// The settings of every repository's entries, by repository. A repository with several
/// entries numbers the later ones' keys (`tags#2`).
pub fn entry_settings(policy: &Policy) -> BTreeMap<String, Settings> {
    let mut out: BTreeMap<String, Settings> = BTreeMap::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for spec in &policy.images {
        let repo = spec.name.without_digest().name();
        let n = seen.entry(repo.clone()).or_default();
        *n += 1;
        let suffix = if *n == 1 {
            String::new()
        } else {
            format!("#{n}")
        };
        let settings = out.entry(repo).or_default();
        for (key, value) in entry(spec) {
            settings.insert(format!("{key}{suffix}"), value);
        }
    }
    out
}

fn entry(spec: &ImageSpec) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !spec.tags.is_empty() {
        out.push(("tags", spec.tags.join(", ")));
    }
    if let Some(s) = &spec.selector {
        if let Some(p) = &s.pattern {
            out.push(("match", p.as_str().to_string()));
        }
        if let Some(v) = &s.semver {
            out.push(("semver", v.to_string()));
        }
        out.push(("keep", s.keep.map_or("all".to_string(), |k| k.to_string())));
        out.push(("by", format!("{:?}", s.by).to_lowercase()));
    }
    if !spec.platforms.is_empty() {
        out.push(("platforms", list(&spec.platforms)));
    }
    if !spec.also_tag.is_empty() {
        out.push(("also_tag", list(&spec.also_tag)));
    }
    out
}

/// The settings outside `images:`.
pub fn global_settings(policy: &Policy) -> Settings {
    let mut out = Settings::new();
    let mut put = |k: String, v: String| {
        out.insert(k, v);
    };
    if let Some(store) = &policy.store {
        put("store".into(), describe_store(store));
    }
    if let Some(s) = &policy.schedule {
        put("schedule".into(), s.clone());
    }
    if !policy.defaults.platforms.is_empty() {
        put(
            "defaults.platforms".into(),
            list(&policy.defaults.platforms),
        );
    }
    let p = &policy.prune;
    put("prune.dangling".into(), p.dangling.to_string());
    put(
        "prune.unmanaged".into(),
        match p.unmanaged {
            Unmanaged::Keep => "keep",
            Unmanaged::Remove => "remove",
        }
        .into(),
    );
    if let Some(w) = p.keep_within {
        put("prune.keep_within".into(), format!("{w:#}"));
    }
    if let Some(d) = p.max_disk {
        put("prune.max_disk".into(), format!("{d} bytes"));
    }
    put(
        "prune.max_removals".into(),
        p.max_removals
            .map_or("unlimited".to_string(), |m| m.to_string()),
    );
    for (host, r) in &policy.registries {
        let key = |k: &str| format!("registries.{host}.{k}");
        if !r.mirrors.is_empty() {
            put(key("mirrors"), r.mirrors.join(", "));
        }
        if let Some(i) = r.insecure {
            put(key("insecure"), i.to_string());
        }
        if !r.tls_verify {
            put(key("tls_verify"), "false".into());
        }
        let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
        for (k, v) in [
            ("ca_file", path(&r.ca_file)),
            ("client_cert", path(&r.client_cert)),
            ("client_key", path(&r.client_key)),
            ("username", r.username.clone()),
            ("password_env", r.password_env.clone()),
            ("password_file", path(&r.password_file)),
        ] {
            if let Some(v) = v {
                put(key(k), v);
            }
        }
    }
    for r in &policy.replicate {
        let target = if r.prefix.is_empty() {
            r.registry.clone()
        } else {
            format!("{}/{}", r.registry, r.prefix)
        };
        put(
            format!("replicate.{target}.platforms"),
            if r.platforms.is_empty() {
                "all".to_string()
            } else {
                list(&r.platforms)
            },
        );
        put(format!("replicate.{target}.prune"), r.prune.to_string());
    }
    out
}

fn describe_store(s: &StoreSpec) -> String {
    match s {
        StoreSpec::Path(p) => format!("path {}", p.display()),
        StoreSpec::Docker { host, engine_pull } => format!(
            "docker {}{}",
            host.as_deref().unwrap_or("(default)"),
            if *engine_pull { ", pull: engine" } else { "" }
        ),
        StoreSpec::Containerd {
            address,
            namespace,
            cri_pull,
            ..
        } => format!(
            "containerd {} namespace {}{}",
            address.as_deref().unwrap_or("(default)"),
            namespace.as_deref().unwrap_or("(default)"),
            if *cri_pull { ", pull: cri" } else { "" }
        ),
    }
}

fn list(items: &[impl std::fmt::Display]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
