//! The policy's `images:` entries: a repository (or a digest pin), the tags it wants by
//! name, the selector that picks more from the registry's tag list, its platforms and the
//! further names of a single image. Each part is checked on its own and reports into the
//! same `Ctx`, in the order the parts are read, so that every problem of an entry shows.

use serde_saphyr::{Location, Spanned};

use super::ctx::{Ctx, Located};
use super::model::{ImageSpec, Order, Selector};
use super::platform_list::platforms;
use super::raw::{RawImage, RawOrder};
use super::values;
use crate::oci::Reference;

/// Entry `i` of `images:`, or `None` when it has a problem (reported to `ctx`).
pub(crate) fn image(
    i: usize,
    s: Spanned<RawImage>,
    ctx: &mut Ctx<'_>,
) -> Option<Located<ImageSpec>> {
    let before = ctx.errors.len();
    let base = format!("images[{i}]");
    let k = |f: &str| format!("{base}.{f}");
    let entry_at = s.referenced;
    let r = s.value;

    let name = name(r.name.as_ref(), entry_at, &k("name"), ctx);
    let pinned = name.as_ref().is_some_and(|n| n.digest().is_some());
    let tags = tags(&r.tags, name.as_ref(), pinned, &base, ctx);
    let given = r.pattern.is_some() || r.semver.is_some() || r.keep.is_some();
    let selector = selector(&r, pinned, &base, ctx);
    if name.is_some() && !pinned && r.tags.is_empty() && !given && r.by.is_none() {
        ctx.err(entry_at, &base, "the entry selects nothing: list tags, add a selector (match, semver, keep), or pin a digest in name");
    }
    let platforms = platforms(r.platforms, &k("platforms"), ctx);
    let also_tag = also_tag(&r.also_tag, pinned, r.tags.len(), given, &base, ctx);

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

/// `name:`: a repository, or a repository pinned by digest; a tag belongs under `tags`.
fn name(
    name: Option<&Spanned<String>>,
    entry_at: Location,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<Reference> {
    let Some(n) = name else {
        ctx.err(
            entry_at,
            key,
            "name is missing: add the repository, e.g. name: nginx",
        );
        return None;
    };
    match Reference::parse_loose(&n.value) {
        Err(e) => {
            ctx.err(
                n.referenced,
                key,
                format!(
                    "{e}: write a repository such as nginx, ghcr.io/org/app or busybox@sha256:…"
                ),
            );
            None
        }
        Ok(r) if r.tag().is_some() && r.digest().is_some() => {
            ctx.err(
                n.referenced,
                key,
                format!(
                    "{:?} has both a tag and a digest: drop the tag (a pinned image is named with also_tag)",
                    n.value
                ),
            );
            None
        }
        Ok(r) if r.tag().is_some() => {
            ctx.err(
                n.referenced,
                key,
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

/// `tags:`, the tags wanted by name: valid tags, none twice, none on a digest pin.
fn tags(
    list: &[Spanned<String>],
    name: Option<&Reference>,
    pinned: bool,
    base: &str,
    ctx: &mut Ctx<'_>,
) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for (j, t) in list.iter().enumerate() {
        let key = format!("{base}.tags[{j}]");
        if pinned {
            ctx.err(t.referenced, &key, "a pinned digest has no tags: remove tags (name the image with also_tag), or drop the digest to follow tags");
            break;
        }
        let probe = name
            .cloned()
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
    tags
}

/// `match`, `semver`, `keep` and `by`: the selector, when any of the first three is given
/// (`by` alone orders nothing; a digest pin selects no tags).
fn selector(r: &RawImage, pinned: bool, base: &str, ctx: &mut Ctx<'_>) -> Option<Selector> {
    let k = |f: &str| format!("{base}.{f}");
    let given = r.pattern.is_some() || r.semver.is_some() || r.keep.is_some();
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
    if pinned || !given {
        return None;
    }
    let pattern = r
        .pattern
        .as_ref()
        .and_then(|p| pattern(p, &k("match"), ctx));
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
    let by = match r.by.as_ref().map(|b| b.value) {
        None | Some(RawOrder::Semver) => Order::Semver,
        Some(RawOrder::Created) => Order::Created,
        Some(RawOrder::Name) => Order::Name,
    };
    Some(Selector {
        pattern,
        semver,
        keep,
        by,
    })
}

/// `match:`, anchored to the whole tag; an empty or invalid pattern is an error.
fn pattern(p: &Spanned<String>, key: &str, ctx: &mut Ctx<'_>) -> Option<regex::Regex> {
    if p.value.is_empty() {
        ctx.err(p.referenced, key, "match is empty and would match no tag: write a pattern such as '^v\\d+\\.\\d+\\.\\d+$' or remove it");
        return None;
    }
    if let Err(e) = regex::RegexBuilder::new(&p.value)
        .size_limit(1 << 20)
        .build()
    {
        ctx.err(
            p.referenced,
            key,
            format!(
                "invalid regular expression {:?}: {}",
                p.value,
                regex_message(&e)
            ),
        );
        return None;
    }
    regex::RegexBuilder::new(&format!("^(?:{})$", p.value))
        .size_limit(1 << 20)
        .build()
        .ok()
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

/// `also_tag:`: full names with a tag, none twice, only on an entry that denotes exactly
/// one image (a digest pin, or one tag and no selector).
fn also_tag(
    list: &[Spanned<String>],
    pinned: bool,
    tag_count: usize,
    selector_given: bool,
    base: &str,
    ctx: &mut Ctx<'_>,
) -> Vec<Reference> {
    let mut also_tag: Vec<Reference> = Vec::new();
    if let Some(first) = list.first()
        && !pinned
        && (tag_count != 1 || selector_given)
    {
        ctx.err(first.referenced, &format!("{base}.also_tag"), format!(
            "also_tag needs an entry that denotes exactly one image: a digest pin, or exactly one tag and no selector (this entry has {} tag(s){})",
            tag_count,
            if selector_given { " and a selector" } else { "" }
        ));
        return also_tag;
    }
    for (j, a) in list.iter().enumerate() {
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
    also_tag
}
