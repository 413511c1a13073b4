//! A `platforms:` list (under `defaults`, an image entry or a replication target): each
//! one parsed, none twice.

use serde_saphyr::Spanned;

use super::ctx::Ctx;
use super::values;
use crate::oci::Platform;

/// The platforms of `list`, written under `key`; problems go to `ctx`.
pub(crate) fn platforms(list: Vec<Spanned<String>>, key: &str, ctx: &mut Ctx<'_>) -> Vec<Platform> {
    let mut out: Vec<Platform> = Vec::new();
    for (i, p) in list.into_iter().enumerate() {
        let k = format!("{key}[{i}]");
        match values::parse_platform(&p.value) {
            Ok(pl) if out.contains(&pl) => {
                ctx.err(p.referenced, &k, format!("platform {pl} is listed twice"))
            }
            Ok(pl) => out.push(pl),
            Err(m) => ctx.err(p.referenced, &k, m),
        }
    }
    out
}
