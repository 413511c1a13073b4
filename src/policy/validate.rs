//! From the YAML shapes of one file to checked values: every problem in the file is
//! collected (not just the first), each with its position, key and a fix.

use std::path::{Path, PathBuf};

use serde_saphyr::{Location, Spanned};

use super::error::PolicyError;
use super::model::{
    Defaults, ImageSpec, Order, Origin, PruneSpec, RegistrySpec, ReplicateSpec, Selector,
    StoreSpec, Unmanaged,
};
use super::raw::{
    RawDefaults, RawImage, RawLimit, RawOrder, RawPolicy, RawPrune, RawRegistry, RawReplicate,
    RawUnmanaged,
};
use super::values;
use crate::oci::{Platform, Reference};

/// A value and where it was written.
#[derive(Clone, Debug)]
pub(crate) struct Located<T> {
    pub value: T,
    pub origin: Origin,
    pub key: String,
}

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

/// Collects the problems of one file.
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub errors: Vec<PolicyError>,
}

/// A 1-based line and column (serde-saphyr's `Location` cannot be built outside it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

/// Anything with a source position.
pub(crate) trait At {
    fn pos(&self) -> Pos;
}

impl At for Pos {
    fn pos(&self) -> Pos {
        *self
    }
}

impl At for Location {
    fn pos(&self) -> Pos {
        Pos {
            line: usize::try_from(self.line()).unwrap_or(0),
            column: usize::try_from(self.column()).unwrap_or(0),
        }
    }
}

impl<T: At + ?Sized> At for &T {
    fn pos(&self) -> Pos {
        (**self).pos()
    }
}

impl Ctx<'_> {
    fn origin(&self, at: impl At) -> Origin {
        let p = at.pos();
        Origin {
            file: self.file.to_path_buf(),
            line: p.line,
            column: p.column,
        }
    }

    pub(crate) fn err(&mut self, at: impl At, key: &str, message: impl Into<String>) {
        let o = self.origin(at);
        self.errors.push(PolicyError {
            file: o.file,
            line: o.line,
            column: o.column,
            key: key.to_string(),
            message: message.into(),
        });
    }

    pub(crate) fn located<T>(&self, value: T, at: impl At, key: &str) -> Located<T> {
        Located {
            value,
            origin: self.origin(at),
            key: key.to_string(),
        }
    }
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

fn platforms(list: Vec<Spanned<String>>, key: &str, ctx: &mut Ctx<'_>) -> Vec<Platform> {
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

fn defaults(d: Spanned<RawDefaults>, ctx: &mut Ctx<'_>) -> Located<Defaults> {
    let RawDefaults { platforms: list } = d.value;
    let value = Defaults {
        platforms: platforms(list, "defaults.platforms", ctx),
    };
    ctx.located(value, d.referenced, "defaults")
}

/// The one line that matters of a regex error (its Display draws a caret diagram).
fn regex_message(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn image(i: usize, s: Spanned<RawImage>, ctx: &mut Ctx<'_>) -> Option<Located<ImageSpec>> {
    let before = ctx.errors.len();
    let base = format!("images[{i}]");
    let k = |f: &str| format!("{base}.{f}");
    let entry_at = s.referenced;
    let r = s.value;

    let name = match &r.name {
        None => {
            ctx.err(
                entry_at,
                &k("name"),
                "name is missing: add the repository, e.g. name: nginx",
            );
            None
        }
        Some(n) => {
            match Reference::parse_loose(&n.value) {
                Err(e) => {
                    ctx.err(n.referenced, &k("name"), format!("{e}: write a repository such as nginx, ghcr.io/org/app or busybox@sha256:…"));
                    None
                }
                Ok(r) if r.tag().is_some() && r.digest().is_some() => {
                    ctx.err(n.referenced, &k("name"), format!(
                    "{:?} has both a tag and a digest: drop the tag (a pinned image is named with also_tag)",
                    n.value
                ));
                    None
                }
                Ok(r) if r.tag().is_some() => {
                    ctx.err(
                        n.referenced,
                        &k("name"),
                        format!(
                            "{:?} carries a tag: put tags under tags: (name: {}, tags: [\"{}\"])",
                            n.value,
                            r.familiar_name(),
                            r.tag().unwrap_or_default()
                        ),
                    );
                    None
                }
                Ok(r) => Some(r),
            }
        }
    };
    let pinned = name.as_ref().is_some_and(|n| n.digest().is_some());

    // Explicit tags.
    let mut tags: Vec<String> = Vec::new();
    for (j, t) in r.tags.iter().enumerate() {
        let key = format!("{base}.tags[{j}]");
        if pinned {
            ctx.err(t.referenced, &key, "a pinned digest has no tags: remove tags (name the image with also_tag), or drop the digest to follow tags");
            break;
        }
        let probe = name
            .clone()
            .unwrap_or_else(|| Reference::parse_loose("x").expect("valid"));
        if let Err(e) = probe.with_tag(&t.value) {
            ctx.err(t.referenced, &key, format!("{:?} is not a valid tag: letters, digits, _ . - up to 128 characters, not starting with . or - ({e})", t.value));
        } else if tags.contains(&t.value) {
            ctx.err(
                t.referenced,
                &key,
                format!("tag {:?} is listed twice", t.value),
            );
        } else {
            tags.push(t.value.clone());
        }
    }

    // Selector.
    let given = r.pattern.is_some() || r.semver.is_some() || r.keep.is_some();
    let by_given = r.by.is_some();
    if pinned {
        for (field, loc) in [
            ("match", r.pattern.as_ref().map(|s| s.referenced)),
            ("semver", r.semver.as_ref().map(|s| s.referenced)),
            ("keep", r.keep.as_ref().map(|s| s.referenced)),
            ("by", r.by.as_ref().map(|s| s.referenced)),
        ] {
            if let Some(loc) = loc {
                ctx.err(loc, &k(field), format!("a pinned digest cannot select tags: remove {field}, or drop the digest from name"));
            }
        }
    } else if !given && let Some(by) = &r.by {
        ctx.err(
            by.referenced,
            &k("by"),
            "by only orders selected tags: add match, semver or keep, or remove by",
        );
    }
    let mut selector = None;
    if !pinned && given {
        let pattern = r.pattern.as_ref().and_then(|p| {
            if p.value.is_empty() {
                ctx.err(p.referenced, &k("match"), "match is empty and would match no tag: write a pattern such as '^v\\d+\\.\\d+\\.\\d+$' or remove it");
                return None;
            }
            if let Err(e) = regex::RegexBuilder::new(&p.value).size_limit(1 << 20).build() {
                ctx.err(p.referenced, &k("match"), format!("invalid regular expression {:?}: {}", p.value, regex_message(&e)));
                return None;
            }
            regex::RegexBuilder::new(&format!("^(?:{})$", p.value))
                .size_limit(1 << 20)
                .build()
                .ok()
        });
        let semver = r
            .semver
            .as_ref()
            .and_then(|s| match values::parse_range(&s.value) {
                Ok(req) => Some(req),
                Err(m) => {
                    ctx.err(s.referenced, &k("semver"), m);
                    None
                }
            });
        let keep = r.keep.as_ref().and_then(|n| match usize::try_from(n.value) {
            Ok(0) | Err(_) => {
                ctx.err(n.referenced, &k("keep"), format!("keep is {} but must be at least 1: keep: N selects the newest N tags (to want no tags, remove the entry)", n.value));
                None
            }
            Ok(n) => Some(n),
        });
        let by = match r.by.map(|b| b.value) {
            None | Some(RawOrder::Semver) => Order::Semver,
            Some(RawOrder::Created) => Order::Created,
            Some(RawOrder::Name) => Order::Name,
        };
        selector = Some(Selector {
            pattern,
            semver,
            keep,
            by,
        });
    }

    if name.is_some() && !pinned && r.tags.is_empty() && !given && !by_given {
        ctx.err(entry_at, &base, "the entry selects nothing: list tags, add a selector (match, semver, keep), or pin a digest in name");
    }

    let platforms = platforms(r.platforms, &k("platforms"), ctx);

    // also_tag
    let mut also_tag: Vec<Reference> = Vec::new();
    if let Some(first) = r.also_tag.first()
        && !pinned
        && (r.tags.len() != 1 || given)
    {
        ctx.err(first.referenced, &k("also_tag"), format!(
            "also_tag needs an entry that denotes exactly one image: a digest pin, or exactly one tag and no selector (this entry has {} tag(s){})",
            r.tags.len(),
            if given { " and a selector" } else { "" }
        ));
    } else {
        for (j, a) in r.also_tag.iter().enumerate() {
            let key = format!("{base}.also_tag[{j}]");
            match Reference::parse_loose(&a.value) {
                Err(e) => ctx.err(
                    a.referenced,
                    &key,
                    format!(
                        "{e}: write a full name with a tag, e.g. registry.local/base/busybox:stable"
                    ),
                ),
                Ok(t) if t.digest().is_some() => ctx.err(
                    a.referenced,
                    &key,
                    format!(
                        "{:?} has a digest: also_tag names need a tag and no digest",
                        a.value
                    ),
                ),
                Ok(t) if t.tag().is_none() => ctx.err(
                    a.referenced,
                    &key,
                    format!("{:?} has no tag: write {}:TAG", a.value, a.value),
                ),
                Ok(t) if also_tag.contains(&t) => {
                    ctx.err(a.referenced, &key, format!("{:?} is listed twice", a.value))
                }
                Ok(t) => also_tag.push(t),
            }
        }
    }

    if ctx.errors.len() > before {
        return None;
    }
    let name = name?;
    let spec = ImageSpec {
        name,
        tags,
        selector,
        platforms,
        also_tag,
        origin: ctx.origin(entry_at),
    };
    Some(ctx.located(spec, entry_at, &base))
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
