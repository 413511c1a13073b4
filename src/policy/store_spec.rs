//! The policy's `store:`: which store it manages (the embedded layout, a Docker Engine or
//! containerd), checked like every other key.

use std::path::PathBuf;

use serde_saphyr::{Location, Spanned};

use super::ctx::{Ctx, Located};
use super::model::StoreSpec;
use super::raw::{RawContainerd, RawStore};
use super::values;

pub(crate) fn store(s: Spanned<RawStore>, ctx: &mut Ctx<'_>) -> Option<Located<StoreSpec>> {
    let given = [
        s.value.path.as_ref().map(|p| ("path", p.referenced)),
        s.value.docker.as_ref().map(|d| ("docker", d.referenced)),
        s.value
            .containerd
            .as_ref()
            .map(|c| ("containerd", c.referenced)),
    ];
    let given: Vec<_> = given.into_iter().flatten().collect();
    if given.len() > 1 {
        ctx.err(
            given[1].1,
            &format!("store.{}", given[1].0),
            "store takes one of path (the embedded store), docker (a Docker Engine) or containerd, not several",
        );
        return None;
    }
    if let Some(c) = s.value.containerd {
        return containerd(c, s.referenced, ctx);
    }
    match (s.value.path, s.value.docker) {
        (Some(_), Some(_)) => None,
        (None, Some(d)) => {
            let host = match d.value.host {
                Some(h) if h.value.starts_with("unix:///") || h.value.starts_with("tcp://") => {
                    Some(h.value)
                }
                Some(h) => {
                    ctx.err(
                        h.referenced,
                        "store.docker.host",
                        format!(
                            "{:?} is not a Docker host: write unix:///var/run/docker.sock or tcp://HOST:PORT",
                            h.value
                        ),
                    );
                    return None;
                }
                None => None,
            };
            let engine_pull = match d.value.pull {
                None => false,
                Some(p) if p.value == "imagectl" => false,
                Some(p) if p.value == "engine" => true,
                Some(p) => {
                    ctx.err(
                        p.referenced,
                        "store.docker.pull",
                        format!("{:?} is not a pull path: write imagectl or engine", p.value),
                    );
                    return None;
                }
            };
            Some(ctx.located(
                StoreSpec::Docker { host, engine_pull },
                s.referenced,
                "store",
            ))
        }
        (None, None) => {
            ctx.err(
                s.referenced,
                "store.path",
                "store needs a path, docker or containerd: write store: { path: /var/lib/imagectl }, store: { docker: {} } or store: { containerd: {} }",
            );
            None
        }
        (Some(path), None) => {
            let p = PathBuf::from(&path.value);
            if !p.is_absolute() {
                ctx.err(
                    path.referenced,
                    "store.path",
                    format!(
                        "{:?} is not an absolute path: a policy applies on hosts from any directory, write e.g. /var/lib/imagectl",
                        path.value
                    ),
                );
                return None;
            }
            Some(ctx.located(StoreSpec::Path(p), s.referenced, "store"))
        }
    }
}

fn containerd(
    c: Spanned<RawContainerd>,
    at: Location,
    ctx: &mut Ctx<'_>,
) -> Option<Located<StoreSpec>> {
    let mut ok = true;
    let address = match c.value.address {
        Some(a) if a.value.starts_with('/') || a.value.starts_with("unix:///") => Some(a.value),
        Some(a) => {
            ctx.err(
                a.referenced,
                "store.containerd.address",
                format!(
                    "{:?} is not a containerd socket: write /run/containerd/containerd.sock (or unix:///PATH)",
                    a.value
                ),
            );
            ok = false;
            None
        }
        None => None,
    };
    let namespace = match c.value.namespace {
        Some(n) if is_namespace(&n.value) => Some(n.value),
        Some(n) => {
            ctx.err(
                n.referenced,
                "store.containerd.namespace",
                format!(
                    "{:?} is not a containerd namespace: letters, digits, `.`, `_` and `-`, starting with a letter or digit (the kubelet's is k8s.io)",
                    n.value
                ),
            );
            ok = false;
            None
        }
        None => None,
    };
    let cri_pull = match c.value.pull {
        None => false,
        Some(p) if p.value == "imagectl" => false,
        Some(p) if p.value == "cri" => true,
        Some(p) => {
            ctx.err(
                p.referenced,
                "store.containerd.pull",
                format!("{:?} is not a pull path: write imagectl or cri", p.value),
            );
            ok = false;
            false
        }
    };
    let min_age = match c.value.min_age {
        None => None,
        Some(m) => match values::parse_duration(&m.value) {
            Ok(d) => d.try_into().ok(),
            Err(e) => {
                ctx.err(m.referenced, "store.containerd.min_age", e);
                ok = false;
                None
            }
        },
    };
    ok.then(|| {
        ctx.located(
            StoreSpec::Containerd {
                address,
                namespace,
                cri_pull,
                min_age,
            },
            at,
            "store",
        )
    })
}

/// containerd's namespace names: `[A-Za-z0-9]` then `[A-Za-z0-9_.-]`, labels of at most 76.
fn is_namespace(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 76
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
