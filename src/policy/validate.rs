//! From the YAML shapes of one file to checked values: every problem in the file is
//! collected (not just the first), each with its position, key and a fix. The sections
//! with more to check have their own files: `image_spec`, `registry_spec`, `store_spec`.

use serde_saphyr::Spanned;

use super::ctx::{Ctx, Located, Pos};
use super::image_spec::image;
use super::model::{
    Defaults, ImageSpec, PruneSpec, RegistrySpec, ReplicateSpec, StoreSpec, Unmanaged,
};
use super::platform_list::platforms;
use super::raw::{RawDefaults, RawLimit, RawPolicy, RawPrune, RawReplicate, RawUnmanaged};
use super::registry_spec::registries;
use super::values;

/// One file's checked content, before files are merged.
pub(crate) struct Fragment {
    pub store: Option<Located<StoreSpec>>,
    pub registries: Vec<Located<(String, RegistrySpec)>>,
    pub defaults: Option<Located<Defaults>>,
    pub images: Vec<Located<ImageSpec>>,
    pub prune: Option<Located<PruneSpec>>,
    pub schedule: Option<Located<String>>,
    pub replicate: Vec<Located<ReplicateSpec>>,
}

/// Checks one file's content; problems go to `ctx`.
pub(crate) fn fragment(raw: RawPolicy, ctx: &mut Ctx<'_>) -> Fragment {
    let start = Pos { line: 1, column: 1 };
    match &raw.version {
        None => ctx.err(
            start,
            "version",
            "version is missing: start the file with `version: 1`",
        ),
        Some(v) if v.value != 1 => ctx.err(
            v.referenced,
            "version",
            format!(
                "unsupported policy version {}: this imagectl reads version 1",
                v.value
            ),
        ),
        Some(_) => {}
    }
    let store = raw.store.and_then(|s| super::store_spec::store(s, ctx));
    let registries = registries(raw.registries.0, ctx);
    let defaults = raw.defaults.map(|d| defaults(d, ctx));
    let images = raw
        .images
        .into_iter()
        .enumerate()
        .filter_map(|(i, img)| image(i, img, ctx))
        .collect();
    let prune = raw.prune.map(|p| prune(p, ctx));
    let replicate = raw
        .replicate
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| replicate(i, r, ctx))
        .collect();
    let schedule = raw.schedule.and_then(|s| {
        match values::check_schedule(&s.value) {
            Ok(()) => return Some(ctx.located(s.value, s.referenced, "schedule")),
            Err(m) => ctx.err(s.referenced, "schedule", m),
        }
        None
    });
    Fragment {
        store,
        registries,
        defaults,
        images,
        prune,
        schedule,
        replicate,
    }
}

/// The ledger name of a replication target that names none.
const DEFAULT_LEDGER: &str = "default";

fn replicate(
    i: usize,
    r: Spanned<RawReplicate>,
    ctx: &mut Ctx<'_>,
) -> Option<Located<ReplicateSpec>> {
    let base = format!("replicate[{i}]");
    let RawReplicate {
        to,
        platforms: list,
        prune,
        ledger,
        referrers,
    } = r.value;
    let ledger = match ledger {
        None => DEFAULT_LEDGER.to_string(),
        Some(l) => match values::check_ledger_name(&l.value) {
            Ok(()) => l.value,
            Err(m) => {
                ctx.err(l.referenced, &format!("{base}.ledger"), m);
                return None;
            }
        },
    };
    let platforms = platforms(list, &format!("{base}.platforms"), ctx);
    let Some(to) = to else {
        ctx.err(
            r.referenced,
            &base,
            "a replication target needs `to: HOST[:PORT][/PREFIX]`",
        );
        return None;
    };
    let (registry, prefix) = match values::parse_replica_target(&to.value) {
        Ok(t) => t,
        Err(m) => {
            ctx.err(to.referenced, &format!("{base}.to"), m);
            return None;
        }
    };
    let origin = ctx.located((), r.referenced, &base).origin;
    let spec = ReplicateSpec {
        registry,
        prefix,
        platforms,
        prune: prune.is_none_or(|p| p.value),
        ledger,
        referrers: referrers.is_none_or(|p| p.value),
        origin,
    };
    Some(ctx.located(spec, r.referenced, &base))
}

fn defaults(d: Spanned<RawDefaults>, ctx: &mut Ctx<'_>) -> Located<Defaults> {
    let RawDefaults { platforms: list } = d.value;
    let value = Defaults {
        platforms: platforms(list, "defaults.platforms", ctx),
    };
    ctx.located(value, d.referenced, "defaults")
}

fn prune(p: Spanned<RawPrune>, ctx: &mut Ctx<'_>) -> Located<PruneSpec> {
    let r = p.value;
    let mut spec = PruneSpec::default();
    if let Some(d) = r.dangling {
        spec.dangling = d.value;
    }
    if let Some(u) = r.unmanaged {
        spec.unmanaged = match u.value {
            RawUnmanaged::Keep => Unmanaged::Keep,
            RawUnmanaged::Remove => Unmanaged::Remove,
        };
    }
    if let Some(k) = r.keep_within {
        match values::parse_duration(&k.value) {
            Ok(d) => spec.keep_within = Some(d),
            Err(m) => ctx.err(k.referenced, "prune.keep_within", m),
        }
    }
    if let Some(m) = r.max_disk {
        match values::parse_size(&m.value) {
            Ok(n) => spec.max_disk = Some(n),
            Err(msg) => ctx.err(m.referenced, "prune.max_disk", msg),
        }
    }
    if let Some(m) = r.max_removals {
        match m.value {
            RawLimit::Count(n) => {
                spec.max_removals = Some(usize::try_from(n).unwrap_or(usize::MAX))
            }
            RawLimit::Word(w) if w == "unlimited" => spec.max_removals = None,
            RawLimit::Word(w) => ctx.err(
                m.referenced,
                "prune.max_removals",
                format!("{w:?} is not a number: write a count such as 50, or unlimited"),
            ),
        }
    }
    ctx.located(spec, p.referenced, "prune")
}
