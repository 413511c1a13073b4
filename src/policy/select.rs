//! Tag selection: which of a registry's tags an entry wants. Pure; the planner supplies the
//! tag list and, for `by: created`, a lookup of creation times.

use std::cmp::Ordering;

use super::model::{ImageSpec, Order, Selector};
use super::version::parse_version;

/// The tags `spec` wants, given the registry's tag list: its explicit `tags` first (in the
/// order written, whether or not the registry lists them, so a missing declared tag is
/// reported rather than silently dropped), then the tags its selector picks, best first,
/// without repeats. A digest pin wants no tags. See the module docs for the rules.
pub fn select_tags(
    spec: &ImageSpec,
    available: &[String],
    created: &dyn Fn(&str) -> Option<jiff::Timestamp>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in &spec.tags {
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    if let Some(sel) = &spec.selector {
        for t in sel.select(available, created) {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

impl Selector {
    /// The tags of `available` this selector picks, best (newest) first; a subset of
    /// `available` with no repeats and at most `keep` entries.
    pub fn select(
        &self,
        available: &[String],
        created: &dyn Fn(&str) -> Option<jiff::Timestamp>,
    ) -> Vec<String> {
        let mut seen = std::collections::BTreeSet::new();
        let mut candidates: Vec<(&str, Option<semver::Version>)> = Vec::new();
        for tag in available {
            if !seen.insert(tag.as_str()) {
                continue;
            }
            if let Some(re) = &self.pattern
                && !re.is_match(tag)
            {
                continue;
            }
            let version = parse_version(tag);
            if let Some(req) = &self.semver {
                match &version {
                    Some(v) if req.matches(v) => {}
                    _ => continue,
                }
            }
            if self.by == Order::Semver {
                match &version {
                    None => continue,
                    Some(v)
                        if !v.pre.is_empty() && self.semver.is_none() && self.pattern.is_none() =>
                    {
                        continue;
                    }
                    Some(_) => {}
                }
            }
            candidates.push((tag, version));
        }
        match self.by {
            Order::Semver => candidates.sort_by(|a, b| {
                let (Some(va), Some(vb)) = (&a.1, &b.1) else {
                    return Ordering::Equal;
                };
                vb.cmp(va).then_with(|| b.0.cmp(a.0))
            }),
            Order::Name => candidates.sort_by(|a, b| b.0.cmp(a.0)),
            Order::Created => {
                let mut keyed: Vec<(Option<jiff::Timestamp>, &str)> =
                    candidates.iter().map(|(t, _)| (created(t), *t)).collect();
                keyed.sort_by(|a, b| match (a.0, b.0) {
                    (Some(x), Some(y)) => y.cmp(&x).then_with(|| b.1.cmp(a.1)),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => b.1.cmp(a.1),
                });
                candidates = keyed.into_iter().map(|(_, t)| (t, None)).collect();
            }
        }
        let n = self.keep.unwrap_or(usize::MAX);
        candidates
            .into_iter()
            .take(n)
            .map(|(t, _)| t.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use proptest::prelude::*;

    use super::*;
    use crate::oci::Reference;
    use crate::policy::model::Origin;

    fn sel(pattern: Option<&str>, range: Option<&str>, keep: Option<usize>, by: Order) -> Selector {
        Selector {
            pattern: pattern.map(|p| regex::Regex::new(&format!("^(?:{p})$")).unwrap()),
            semver: range.map(|r| semver::VersionReq::parse(r).unwrap()),
            keep,
            by,
        }
    }

    fn spec(tags: &[&str], selector: Option<Selector>) -> ImageSpec {
        ImageSpec {
            name: Reference::parse_loose("nginx").unwrap(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            selector,
            platforms: vec![],
            also_tag: vec![],
            origin: Origin {
                file: PathBuf::from("p.yaml"),
                line: 1,
                column: 1,
            },
        }
    }

    fn tags(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn no_time(_: &str) -> Option<jiff::Timestamp> {
        None
    }

    #[test]
    fn table() {
        let avail = tags(
            "latest 1.23 1.24 1.25 1.25.3 1.25.4 1.26.0-rc.1 1.25-alpine 1.25.4-alpine v2.0.0 stable 2024-05-01 2024-06-01",
        );
        type Case = (&'static str, Selector, &'static str);
        let cases: Vec<Case> = vec![
            // keep alone: the newest releases, no pre-releases, no non-versions
            (
                "keep 3",
                sel(None, None, Some(3), Order::Semver),
                "v2.0.0 1.25.4 1.25.3",
            ),
            // a range: pre-releases only when the range admits them
            (
                "range",
                sel(None, Some(">=1.24, <2"), None, Order::Semver),
                "1.25.4 1.25.3 1.25 1.24",
            ),
            (
                "range pre",
                sel(None, Some(">=1.26.0-rc.0, <2"), None, Order::Semver),
                "1.26.0-rc.1",
            ),
            // a pattern picks flavour tags even though they parse as pre-releases
            (
                "match alpine",
                sel(
                    Some(r"\d+\.\d+(\.\d+)?-alpine"),
                    None,
                    Some(1),
                    Order::Semver,
                ),
                "1.25.4-alpine",
            ),
            // pattern is whole-tag: "1.2" does not match "1.25"
            (
                "anchored",
                sel(Some(r"1\.2"), None, None, Order::Semver),
                "",
            ),
            (
                "match + range",
                sel(Some(r"[\d.]+"), Some("~1.25"), Some(2), Order::Semver),
                "1.25.4 1.25.3",
            ),
            // by name: reverse lexicographic, non-versions allowed
            (
                "by name",
                sel(Some(r"\d{4}-\d{2}-\d{2}"), None, Some(5), Order::Name),
                "2024-06-01 2024-05-01",
            ),
            // by created with no times known: all unknown, by name
            (
                "created unknown",
                sel(Some("stable|latest"), None, None, Order::Created),
                "stable latest",
            ),
        ];
        for (what, s, want) in cases {
            assert_eq!(s.select(&avail, &no_time), tags(want), "{what}");
        }
    }

    #[test]
    fn created_order_puts_unknown_last() {
        let s = sel(Some("a|b|c|d"), None, None, Order::Created);
        let created = |t: &str| match t {
            "a" => Some(jiff::Timestamp::from_second(100).unwrap()),
            "b" => Some(jiff::Timestamp::from_second(300).unwrap()),
            "c" => Some(jiff::Timestamp::from_second(200).unwrap()),
            _ => None,
        };
        assert_eq!(s.select(&tags("a b c d"), &created), tags("b c a d"));
        let s = Selector { keep: Some(2), ..s };
        assert_eq!(s.select(&tags("d a b c"), &created), tags("b c"));
    }

    #[test]
    fn explicit_tags_come_first_and_are_kept_when_missing() {
        let avail = tags("1.0 1.1 1.2");
        let sp = spec(
            &["0.9", "1.2"],
            Some(sel(None, None, Some(2), Order::Semver)),
        );
        assert_eq!(select_tags(&sp, &avail, &no_time), tags("0.9 1.2 1.1"));
        let sp = spec(&["1.0"], None);
        assert_eq!(select_tags(&sp, &avail, &no_time), tags("1.0"));
    }

    #[test]
    fn ties_break_by_name() {
        let s = sel(None, None, None, Order::Semver);
        assert_eq!(
            s.select(&tags("1.2 1.2.0 v1.2.0 1.1"), &no_time),
            tags("v1.2.0 1.2.0 1.2 1.1")
        );
    }

    proptest! {
        #[test]
        fn selection_is_a_sorted_bounded_subset(
            avail in proptest::collection::vec("(v?[0-9]{1,2}(\\.[0-9]{1,2}){0,3}(-rc\\.[0-9])?|latest|[a-z]{1,4})", 0..30),
            keep in proptest::option::of(1usize..6),
            by in prop_oneof![Just(Order::Semver), Just(Order::Name), Just(Order::Created)],
        ) {
            let s = sel(None, None, keep, by);
            let got = s.select(&avail, &no_time);
            prop_assert!(got.iter().all(|t| avail.contains(t)));
            prop_assert!(got.len() <= keep.unwrap_or(usize::MAX));
            let mut dedup = got.clone();
            dedup.sort();
            dedup.dedup();
            prop_assert_eq!(dedup.len(), got.len());
            for w in got.windows(2) {
                match by {
                    Order::Semver => {
                        let (a, b) = (parse_version(&w[0]).unwrap(), parse_version(&w[1]).unwrap());
                        prop_assert!(a > b || (a == b && w[0] > w[1]));
                    }
                    _ => prop_assert!(w[0] > w[1]),
                }
            }
        }
    }
}
