//! Parsers and checks for the scalar values a policy holds: durations, sizes, platforms,
//! registry hosts, environment variable names, cron lines and version ranges. Each returns
//! a message that says what to write instead.

use std::str::FromStr;

use semver::{Comparator, Op, Prerelease, Version, VersionReq};

use crate::oci::{Platform, Reference};

/// `72h`, `3d`, `90m`, `1h30m`, `2w`: whole numbers with units w, d (24h), h, m, s, largest
/// first, each unit at most once.
pub(crate) fn parse_duration(s: &str) -> Result<jiff::SignedDuration, String> {
    const UNITS: [(char, i64); 5] = [
        ('w', 7 * 86_400),
        ('d', 86_400),
        ('h', 3_600),
        ('m', 60),
        ('s', 1),
    ];
    let hint =
        "write a duration such as 72h, 3d, 90m or 1h30m (units w, d, h, m, s, largest first)";
    if s.is_empty() {
        return Err(format!("empty duration: {hint}"));
    }
    let mut total: i64 = 0;
    let mut last_unit = usize::MAX;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("{s:?} is not a duration: {hint}"));
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{s:?} is too long a duration"))?;
        let Some(unit) = rest[digits..].chars().next() else {
            return Err(format!("{s:?} has a number without a unit: {hint}"));
        };
        let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(format!("{s:?} has an unknown unit {unit:?}: {hint}"));
        };
        if last_unit != usize::MAX && idx <= last_unit {
            return Err(format!("{s:?} repeats or misorders units: {hint}"));
        }
        last_unit = idx;
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|x| x.checked_add(total))
            .filter(|t| *t <= 100 * 365 * 86_400)
            .ok_or_else(|| format!("{s:?} is longer than 100 years"))?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Ok(jiff::SignedDuration::from_secs(total))
}

/// `20GiB`, `500MB`, `1024` (bytes).
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    bytesize::ByteSize::from_str(s.trim())
        .map(|b| b.as_u64())
        .map_err(|_| format!("{s:?} is not a size: write e.g. 20GiB, 500MB or 1073741824"))
}

const KNOWN_OS: &[&str] = &[
    "linux",
    "windows",
    "darwin",
    "freebsd",
    "netbsd",
    "openbsd",
    "solaris",
    "illumos",
    "aix",
    "dragonfly",
    "plan9",
    "android",
    "ios",
    "wasip1",
    "js",
];
const KNOWN_ARCH: &[&str] = &[
    "amd64", "arm64", "arm", "386", "ppc64le", "ppc64", "s390x", "riscv64", "mips64le", "mips64",
    "mipsle", "mips", "loong64", "wasm",
];

/// `os/arch[/variant]` with an OS and architecture an image index can name (GOOS/GOARCH
/// spelling; `x86_64` and `aarch64` are accepted and normalized).
pub(crate) fn parse_platform(s: &str) -> Result<Platform, String> {
    let p = Platform::from_str(s).map_err(|e| e.to_string())?;
    if !KNOWN_OS.contains(&p.os.as_str()) {
        return Err(format!(
            "unknown operating system {:?} in platform {s:?}: use one of {}",
            p.os,
            KNOWN_OS.join(", ")
        ));
    }
    if !KNOWN_ARCH.contains(&p.architecture.as_str()) {
        return Err(format!(
            "unknown architecture {:?} in platform {s:?}: use one of {}",
            p.architecture,
            KNOWN_ARCH.join(", ")
        ));
    }
    if let Some(v) = &p.variant {
        let ok = match p.architecture.as_str() {
            "arm" => ["v5", "v6", "v7", "v8"].contains(&v.as_str()),
            "arm64" => {
                ["v8", "v9"].contains(&v.as_str()) || v.starts_with("v8.") || v.starts_with("v9.")
            }
            "amd64" => ["v1", "v2", "v3", "v4"].contains(&v.as_str()),
            _ => false,
        };
        if !ok {
            return Err(format!(
                "unknown variant {v:?} for {} in platform {s:?} (e.g. linux/arm/v7, linux/arm64/v8, linux/amd64/v3)",
                p.architecture
            ));
        }
    }
    Ok(p)
}

/// A `registries:` key: a host with optional port, as the registry part of a reference
/// (`docker.io`, `localhost:5000`, `172.16.0.120:30002`). Returns the normalized host.
pub(crate) fn parse_registry_host(key: &str) -> Result<String, String> {
    let hint = "a registry key is a host with optional port, e.g. docker.io, registry.example.com, localhost:5000 or 172.16.0.120:30002";
    let looks_like_host = key.contains(['.', ':']) || key == "localhost" || key.starts_with('[');
    if key.contains('/') || !looks_like_host {
        return Err(format!("{key:?} is not a registry host: {hint}"));
    }
    match Reference::parse_loose(&format!("{key}/x")) {
        Ok(r) => Ok(r.registry().to_string()),
        Err(_) => Err(format!("{key:?} is not a valid registry host: {hint}")),
    }
}

/// A `replicate[].to`: `HOST[:PORT][/PREFIX]`, returned as (normalized host, prefix).
pub(crate) fn parse_replica_target(to: &str) -> Result<(String, String), String> {
    let to = to.trim_end_matches('/');
    if to.contains("://") {
        return Err(format!(
            "{to:?} has a scheme: write HOST[:PORT][/PREFIX] and mark plain-HTTP registries `insecure: true` under registries"
        ));
    }
    let (host, prefix) = to.split_once('/').unwrap_or((to, ""));
    let host = parse_registry_host(host)?;
    if !prefix.is_empty() && Reference::parse_loose(&format!("{host}/{prefix}/x")).is_err() {
        return Err(format!(
            "{prefix:?} is not a valid repository path prefix: lower-case letters, digits and separators (. _ -) between slashes"
        ));
    }
    if prefix.contains(':') || prefix.contains('@') {
        return Err(format!(
            "{to:?} names a tag or digest: give HOST[:PORT][/PREFIX] only"
        ));
    }
    Ok((host, prefix.to_string()))
}

/// A mirror URL: `http(s)://host[:port][/path-prefix]`, normalized without a trailing
/// slash. No user info (credentials go in the mirror's own entry), query or fragment, and no
/// `/v2/` (imagectl adds it).
/// A ledger name becomes a tag in the target: the tag grammar of the distribution spec.
pub(crate) fn check_ledger_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "ledger name {s:?} is not a valid tag: use letters, digits, `_`, `.` and `-` (at most 128, not starting with `.` or `-`)"
        ))
    }
}

pub(crate) fn parse_mirror_url(text: &str) -> Result<String, String> {
    let hint = "write e.g. https://mirror.example or http://10.0.0.5:5000/dockerhub";
    let trimmed = text.trim();
    if !trimmed.contains("://") {
        return Err(format!(
            "mirror {text:?} has no scheme: start it with https:// or http:// ({hint})"
        ));
    }
    let url = url::Url::parse(trimmed)
        .map_err(|e| format!("mirror {text:?} is not a URL ({e}): {hint}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "mirror {text:?} must start with https:// or http:// ({hint})"
        ));
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(format!("mirror {text:?} has no host: {hint}"));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "mirror {text:?} carries credentials: give the mirror host its own registries entry with username and password_env"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "mirror {text:?} has a query or fragment: a mirror is scheme://host[:port][/path-prefix]"
        ));
    }
    let prefix = url.path().trim_matches('/');
    if prefix.split('/').any(|s| s == "v2") {
        return Err(format!(
            "mirror {text:?} names /v2 in its path: give the base URL, imagectl adds /v2/ itself"
        ));
    }
    let mut out = format!("{}://{host}", url.scheme());
    if let Some(p) = url.port() {
        out.push_str(&format!(":{p}"));
    }
    if !prefix.is_empty() {
        out.push('/');
        out.push_str(prefix);
    }
    Ok(out)
}

/// A POSIX-portable environment variable name.
pub(crate) fn check_env_name(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an environment variable name: letters, digits and _, not starting with a digit (e.g. HARBOR_PASSWORD)"
        ))
    }
}

/// A 5-field cron line (minute hour day-of-month month day-of-week) or a nickname such as
/// `@daily`.
pub(crate) fn check_schedule(s: &str) -> Result<(), String> {
    use croner::parser::{CronParser, Seconds, Year};
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    parser.parse(s).map(|_| ()).map_err(|e| {
        format!(
            "{s:?} is not a cron schedule ({e}): write 5 fields, minute hour day-of-month month day-of-week, e.g. \"0 */6 * * *\""
        )
    })
}

/// A version range in the `semver` crate's syntax that some version can satisfy.
pub(crate) fn parse_range(s: &str) -> Result<VersionReq, String> {
    let req = VersionReq::parse(s).map_err(|e| {
        format!("{s:?} is not a version range ({e}): write e.g. \">=1.2, <2\", \"~1.25\" or \"^3\"")
    })?;
    let mut lo: Bound = Bound::Min;
    let mut hi: Bound = Bound::Max;
    for c in &req.comparators {
        let (l, h) = interval(c);
        lo = lo.max_lower(l);
        hi = hi.min_upper(h);
    }
    if is_empty(&lo, &hi) {
        return Err(format!(
            "the range {s:?} can never match: its bounds exclude each other (did you mean e.g. \">=1.2, <2\"?)"
        ));
    }
    Ok(req)
}

/// One end of a version interval.
#[derive(Clone, Debug)]
enum Bound {
    Min,
    Max,
    Incl(Version),
    Excl(Version),
}

impl Bound {
    fn max_lower(self, other: Bound) -> Bound {
        match (&self, &other) {
            (Bound::Min, _) => other,
            (_, Bound::Min) => self,
            (Bound::Incl(a) | Bound::Excl(a), Bound::Incl(b) | Bound::Excl(b)) => {
                if a > b || (a == b && matches!(self, Bound::Excl(_))) {
                    self
                } else {
                    other
                }
            }
            _ => self,
        }
    }

    fn min_upper(self, other: Bound) -> Bound {
        match (&self, &other) {
            (Bound::Max, _) => other,
            (_, Bound::Max) => self,
            (Bound::Incl(a) | Bound::Excl(a), Bound::Incl(b) | Bound::Excl(b)) => {
                if a < b || (a == b && matches!(self, Bound::Excl(_))) {
                    self
                } else {
                    other
                }
            }
            _ => self,
        }
    }
}

fn is_empty(lo: &Bound, hi: &Bound) -> bool {
    match (lo, hi) {
        (Bound::Incl(a), Bound::Incl(b)) => a > b,
        (Bound::Incl(a) | Bound::Excl(a), Bound::Incl(b) | Bound::Excl(b)) => a >= b,
        _ => false,
    }
}

fn v(major: u64, minor: u64, patch: u64, pre: &Prerelease) -> Version {
    Version {
        major,
        minor,
        patch,
        pre: pre.clone(),
        build: semver::BuildMetadata::EMPTY,
    }
}

/// The versions one comparator admits, as `[lower, upper)`-style bounds (pre-release
/// subtleties aside: this only has to catch ranges that admit nothing at all).
fn interval(c: &Comparator) -> (Bound, Bound) {
    let none = Prerelease::EMPTY;
    let (ma, mi, pa) = (c.major, c.minor, c.patch);
    let at = v(ma, mi.unwrap_or(0), pa.unwrap_or(0), &c.pre);
    // The first version past the precision written: 1 → 2.0.0, 1.2 → 1.3.0, 1.2.3 → 1.2.4.
    let next = match (mi, pa) {
        (None, _) => v(ma + 1, 0, 0, &none),
        (Some(mi), None) => v(ma, mi + 1, 0, &none),
        (Some(mi), Some(pa)) => v(ma, mi, pa + 1, &none),
    };
    match c.op {
        Op::Exact | Op::Wildcard => match pa {
            Some(_) => (Bound::Incl(at.clone()), Bound::Incl(at)),
            None => (Bound::Incl(at), Bound::Excl(next)),
        },
        Op::Greater => match pa {
            Some(_) => (Bound::Excl(at), Bound::Max),
            None => (Bound::Incl(next), Bound::Max),
        },
        Op::GreaterEq => (Bound::Incl(at), Bound::Max),
        Op::Less => (Bound::Min, Bound::Excl(at)),
        Op::LessEq => match pa {
            Some(_) => (Bound::Min, Bound::Incl(at)),
            None => (Bound::Min, Bound::Excl(next)),
        },
        Op::Tilde => {
            let upper = match mi {
                None => v(ma + 1, 0, 0, &none),
                Some(mi) => v(ma, mi + 1, 0, &none),
            };
            (Bound::Incl(at), Bound::Excl(upper))
        }
        Op::Caret => {
            let upper = match (ma, mi, pa) {
                (0, Some(0), Some(p)) => v(0, 0, p + 1, &none),
                (0, Some(m), _) if m > 0 || pa.is_none() => v(0, m + 1, 0, &none),
                (0, Some(_), _) => v(0, 1, 0, &none),
                (ma, _, _) => v(ma + 1, 0, 0, &none),
            };
            (Bound::Incl(at), Bound::Excl(upper))
        }
        _ => (Bound::Min, Bound::Max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (s, secs) in [
            ("72h", 72 * 3600),
            ("3d", 3 * 86400),
            ("90m", 5400),
            ("1h30m", 5400),
            ("2w", 14 * 86400),
            ("1d12h", 36 * 3600),
            ("0h", 0),
            ("45s", 45),
        ] {
            assert_eq!(parse_duration(s).unwrap().as_secs(), secs, "{s}");
        }
        for bad in [
            "",
            "72",
            "h",
            "3x",
            "1m1h",
            "1h1h",
            "-1h",
            "1.5h",
            "3 d",
            "99999999999999999999h",
            "1000000d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges() {
        for ok in [
            ">=1.2, <2",
            "~1.25",
            "^3",
            "1.2",
            "*",
            ">=1.2.3, <=1.2.3",
            "=1.2.3",
            ">1, <3",
            "^0.0.3",
            "1.*",
        ] {
            assert!(parse_range(ok).is_ok(), "{ok}");
        }
        for bad in [
            ">=2, <1",
            ">1.2.3, <1.2.3",
            "=1.2.3, =1.2.4",
            "^1, ^2",
            "<1.0.0, >=1",
            ">1, <2",
            "~1.2, >=1.3",
            "not a range",
            ">=1.2 <2",
        ] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn platforms_and_hosts() {
        assert!(parse_platform("linux/amd64").is_ok());
        assert!(parse_platform("linux/arm64/v8").is_ok());
        assert!(parse_platform("linux/x86_64").is_ok());
        for bad in [
            "linux",
            "lunix/amd64",
            "linux/amd65",
            "linux/arm/v99",
            "windows/amd64/x",
        ] {
            assert!(parse_platform(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_registry_host("index.docker.io").unwrap(), "docker.io");
        assert_eq!(
            parse_registry_host("172.16.0.120:30002").unwrap(),
            "172.16.0.120:30002"
        );
        assert_eq!(parse_registry_host("localhost").unwrap(), "localhost");
        for bad in ["harbor", "a/b", "host:port", "-x.io", "x.io:", ""] {
            assert!(parse_registry_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schedules() {
        assert!(check_schedule("0 */6 * * *").is_ok());
        assert!(check_schedule("@daily").is_ok());
        for bad in ["", "0 */6 * *", "0 0 */6 * * *", "61 * * * *", "every day"] {
            assert!(check_schedule(bad).is_err(), "{bad}");
        }
    }
}
