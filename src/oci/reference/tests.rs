//! Reference parsing held to docker's. Each table is data: an input as typed (`imagectl tag
//! IMAGE INPUT`), then the normalized long form it must give or the kind of error. The
//! expectations are what docker's reference library (`distribution/reference` v0.6.0,
//! `ParseNormalizedNamed`, `:latest` added as `docker pull` does, with the docker CLI's
//! sha256/sha384/sha512 digests) gives for the same input.

use super::*;

mod docker_tables;

/// How a case must come out.
#[derive(Debug)]
enum Want {
    /// Parses, and `Display` gives this long form.
    Is(String),
    /// Fails with this kind of error.
    Fails(Kind),
}

/// The kinds of [`ReferenceError`] a case can expect.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Empty,
    Uppercase,
    LooksLikeId,
    Registry,
    Component,
    Tag,
    TooLong,
    /// A digest that is not `algorithm:lowercase-hex`.
    Digest,
    /// A digest of the wrong length for its algorithm.
    DigestLength,
    /// A digest algorithm other than sha256, sha384 and sha512.
    DigestAlgorithm,
}

impl Kind {
    fn matches(self, e: &ReferenceError) -> bool {
        use ReferenceError as E;
        match (self, e) {
            (Kind::Empty, E::Empty)
            | (Kind::Uppercase, E::Uppercase(_))
            | (Kind::LooksLikeId, E::LooksLikeId(_))
            | (Kind::Registry, E::BadRegistry { .. })
            | (Kind::Component, E::BadComponent { .. })
            | (Kind::Tag, E::BadTag { .. })
            | (Kind::TooLong, E::TooLong(_)) => true,
            (Kind::Digest, E::Digest { source, .. }) => matches!(source, DigestError::Malformed(_)),
            (Kind::DigestLength, E::Digest { source, .. }) => {
                matches!(source, DigestError::Length { .. })
            }
            (Kind::DigestAlgorithm, E::Digest { source, .. }) => {
                matches!(source, DigestError::UnsupportedAlgorithm { .. })
            }
            _ => false,
        }
    }
}

/// One case: the input and what it must give.
type Case = (String, Want);

/// A case that parses to `long_form`.
fn ok(input: impl Into<String>, long_form: impl Into<String>) -> Case {
    (input.into(), Want::Is(long_form.into()))
}

/// A case that fails with an error of `kind`.
fn err(input: impl Into<String>, kind: Kind) -> Case {
    (input.into(), Want::Fails(kind))
}

/// `s` repeated `n` times, for the long cases.
fn r(s: &str, n: usize) -> String {
    s.repeat(n)
}

/// Parses every case and reports all disagreements at once. A case that parses must also
/// parse back from its long form to the same reference.
fn check(cases: Vec<Case>) {
    let mut wrong = Vec::new();
    for (input, want) in &cases {
        let got = Reference::parse(input);
        let agrees = match (want, &got) {
            (Want::Is(long), Ok(r)) => {
                r.to_string() == *long && Reference::parse(long).as_ref() == Ok(r)
            }
            (Want::Fails(kind), Err(e)) => kind.matches(e),
            _ => false,
        };
        if !agrees {
            wrong.push(format!("{input:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases disagree:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

/// Every input of docker's `reference_test.go` tables gives what docker gives.
#[test]
fn agrees_with_reference_test_go() {
    check(docker_tables::reference_test_go());
}

/// Every input of docker's `normalize_test.go` tables gives what docker gives.
#[test]
fn agrees_with_normalize_test_go() {
    check(docker_tables::normalize_test_go());
}

/// The four cases issue 18 found in those tables, where imagectl used to disagree.
#[test]
fn the_four_former_disagreements() {
    check(vec![
        err("[2001:db8:3:4::192.0.2.33]:5000/debian", Kind::Registry),
        ok(
            format!("{}a:tag-puts-this-over-max", r("a/", 127)),
            format!("docker.io/{}a:tag-puts-this-over-max", r("a/", 127)),
        ),
        ok(
            format!("example.com/{}:tag", r("a", 255)),
            format!("example.com/{}:tag", r("a", 255)),
        ),
        ok(
            format!("xn--7o8h.com/myimage:xn--7o8h.com@sha512:{}", r("f", 128)),
            format!("xn--7o8h.com/myimage:xn--7o8h.com@sha512:{}", r("f", 128)),
        ),
    ]);
}

/// The path may have 255 characters and the registry host never counts: each limit with
/// its neighbours on both sides, and the tag's 128.
#[test]
fn length_boundaries() {
    use Kind::*;
    check(vec![
        // One component on Docker Hub: `library/` + n <= 255, so 247 is the longest (238-247 were refused when the host counted).
        ok(
            r("a", 237),
            format!("docker.io/library/{}:latest", r("a", 237)),
        ),
        ok(
            r("a", 238),
            format!("docker.io/library/{}:latest", r("a", 238)),
        ),
        ok(
            r("a", 247),
            format!("docker.io/library/{}:latest", r("a", 247)),
        ),
        err(r("a", 248), TooLong),
        ok(
            format!("{}:tag", r("a", 247)),
            format!("docker.io/library/{}:tag", r("a", 247)),
        ),
        err(format!("{}:tag", r("a", 248)), TooLong),
        ok(
            format!("docker.io/{}", r("a", 247)),
            format!("docker.io/library/{}:latest", r("a", 247)),
        ),
        err(format!("docker.io/{}", r("a", 248)), TooLong),
        ok(
            format!("index.docker.io/{}", r("a", 247)),
            format!("docker.io/library/{}:latest", r("a", 247)),
        ),
        err(format!("index.docker.io/{}", r("a", 248)), TooLong),
        // Several components on Docker Hub: the whole path counts, no `library/`.
        ok(
            format!("x/{}", r("a", 253)),
            format!("docker.io/x/{}:latest", r("a", 253)),
        ),
        err(format!("x/{}", r("a", 254)), TooLong),
        ok(
            format!("docker.io/x/{}", r("a", 253)),
            format!("docker.io/x/{}:latest", r("a", 253)),
        ),
        err(format!("docker.io/x/{}", r("a", 254)), TooLong),
        ok(
            format!("{}a", r("a/", 127)),
            format!("docker.io/{}a:latest", r("a/", 127)),
        ),
        err(format!("{}aa", r("a/", 127)), TooLong),
        err(format!("{}a", r("a/", 128)), TooLong),
        // Another registry: 255 path characters after the host, whatever the host's length.
        ok(
            format!("example.com/{}", r("a", 254)),
            format!("example.com/{}:latest", r("a", 254)),
        ),
        ok(
            format!("example.com/{}", r("a", 255)),
            format!("example.com/{}:latest", r("a", 255)),
        ),
        err(format!("example.com/{}", r("a", 256)), TooLong),
        ok(
            format!("example.com:5000/{}:tag", r("a", 255)),
            format!("example.com:5000/{}:tag", r("a", 255)),
        ),
        err(format!("example.com:5000/{}:tag", r("a", 256)), TooLong),
        ok(
            format!("localhost/{}", r("a", 255)),
            format!("localhost/{}:latest", r("a", 255)),
        ),
        err(format!("localhost/{}", r("a", 256)), TooLong),
        ok(
            format!("[::1]:5000/{}", r("a", 255)),
            format!("[::1]:5000/{}:latest", r("a", 255)),
        ),
        err(format!("[::1]:5000/{}", r("a", 256)), TooLong),
        ok(
            format!("example.com/{}a", r("a/", 127)),
            format!("example.com/{}a:latest", r("a/", 127)),
        ),
        err(format!("example.com/{}a", r("a/", 128)), TooLong),
        // Tags: 128 characters at most, the first a letter, digit or `_`.
        ok(
            format!("a:{}", r("t", 128)),
            format!("docker.io/library/a:{}", r("t", 128)),
        ),
        err(format!("a:{}", r("t", 129)), Tag),
        ok(
            format!("a:_{}", r("t", 127)),
            format!("docker.io/library/a:_{}", r("t", 127)),
        ),
        err(format!("a:_{}", r("t", 128)), Tag),
        // 64 lowercase hex digits alone are an image ID; anything else of that shape is a name.
        err(r("a", 64), LooksLikeId),
        ok(
            format!("{}:tag", r("f", 64)),
            format!("docker.io/library/{}:tag", r("f", 64)),
        ),
        err(r("F", 64), Uppercase),
        ok(
            r("f", 63),
            format!("docker.io/library/{}:latest", r("f", 63)),
        ),
        ok(
            r("f", 65),
            format!("docker.io/library/{}:latest", r("f", 65)),
        ),
        ok(
            format!("library/{}", r("f", 64)),
            format!("docker.io/library/{}:latest", r("f", 64)),
        ),
    ]);
}

/// Bracketed IPv6 hosts as docker's grammar has them: hex digits and colons only, an
/// optional port, and a path after them.
#[test]
fn ipv6_hosts() {
    use Kind::*;
    check(vec![
        // Accepted: hex digits and colons in brackets, any port digits.
        ok("[::1]/x", "[::1]/x:latest"),
        ok("[::1]:5000/x", "[::1]:5000/x:latest"),
        ok("[2001:db8::1]:5000/x", "[2001:db8::1]:5000/x:latest"),
        ok("[2001:db8::1]/x", "[2001:db8::1]/x:latest"),
        ok("[::]/x", "[::]/x:latest"),
        ok("[FC00::1]/x", "[FC00::1]/x:latest"),
        ok("[1:2:3:4:5:6:7:8:9]/x", "[1:2:3:4:5:6:7:8:9]/x:latest"),
        ok("[::1]:123456/x", "[::1]:123456/x:latest"),
        // Refused: dots, zones, empty or non-hex brackets, a bad port, no path.
        err("[abc]/x", Component),
        err("[2001:db8:3:4::192.0.2.33]:5000/debian", Registry),
        err("[::ffff:127.0.0.1]/x", Registry),
        err("[fe80::1%eth0]/x", Registry),
        err("[]/x", Component),
        err("[zz]/x", Component),
        err("[::1]:/x", Registry),
        err("[::1]x/x", Registry),
        err("[::1/x", Registry),
        err("::1/x", Registry),
        err("[::1]", Tag),
        err("[::1]:5000", Component),
    ]);
}

/// Digests as go-digest checks them, in a reference.
#[test]
fn digests_in_references() {
    use Kind::*;
    check(vec![
        // sha256, sha384 and sha512 at exactly 64, 96 and 128 lowercase hex digits.
        ok(
            format!("a@sha256:{}", r("f", 64)),
            format!("docker.io/library/a@sha256:{}", r("f", 64)),
        ),
        ok(
            format!("a@sha384:{}", r("f", 96)),
            format!("docker.io/library/a@sha384:{}", r("f", 96)),
        ),
        ok(
            format!("a@sha512:{}", r("f", 128)),
            format!("docker.io/library/a@sha512:{}", r("f", 128)),
        ),
        ok(
            format!("a:t@sha512:{}", r("0", 128)),
            format!("docker.io/library/a:t@sha512:{}", r("0", 128)),
        ),
        // Other lengths, upper-case hex, other algorithms, nothing after `@`.
        err(format!("a@sha256:{}", r("f", 63)), DigestLength),
        err(format!("a@sha256:{}", r("f", 65)), DigestLength),
        err(format!("a@sha384:{}", r("f", 64)), DigestLength),
        err(format!("a@sha384:{}", r("f", 128)), DigestLength),
        err(format!("a@sha512:{}", r("f", 64)), DigestLength),
        err(format!("a@sha512:{}", r("f", 127)), DigestLength),
        err(format!("a@sha512:{}", r("f", 129)), DigestLength),
        err(format!("a@sha256:{}", r("F", 64)), Digest),
        err(format!("a@sha512:{}", r("A", 128)), Digest),
        err(format!("a@SHA256:{}", r("f", 64)), Digest),
        err(format!("a@md5:{}", r("f", 32)), DigestAlgorithm),
        err(format!("a@sha1:{}", r("f", 40)), DigestAlgorithm),
        err(format!("a@sha256+b64:{}", r("f", 64)), DigestAlgorithm),
        err("a@", Digest),
        err("a@sha256:", Digest),
        err(
            format!("a@sha256:{}@sha256:{}", r("f", 64), r("f", 64)),
            Digest,
        ),
    ]);
}

/// A sha512 pin parses and keeps its algorithm, and says it cannot be verified when asked.
#[test]
fn sha512_pins_parse_but_are_not_verifiable() {
    let r = Reference::parse(&format!("a:t@sha512:{}", r("f", 128))).unwrap();
    let d = r.digest().unwrap();
    assert_eq!(d.algorithm(), crate::oci::Algorithm::Sha512);
    assert_eq!(r.manifest_reference(), d.to_string());
    assert!(d.verifiable().is_err());
}

const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn normalizes_like_docker() {
    let cases = [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.23", "docker.io/library/nginx:1.23"),
        ("library/nginx", "docker.io/library/nginx:latest"),
        ("user/app", "docker.io/user/app:latest"),
        ("docker.io/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/nginx:1", "docker.io/library/nginx:1"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/app:v1", "localhost:5000/app:v1"),
        ("127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c:t"),
        (
            "172.16.0.120:30002/mirror/library/nginx:1.25",
            "172.16.0.120:30002/mirror/library/nginx:1.25",
        ),
        (
            "quay.io/prometheus/node-exporter",
            "quay.io/prometheus/node-exporter:latest",
        ),
        ("ghcr.io/a/b__c/d-e.f:1.0_rc", "ghcr.io/a/b__c/d-e.f:1.0_rc"),
        ("Registry/app", "Registry/app:latest"),
        ("[::1]:5000/app", "[::1]:5000/app:latest"),
        ("a--b", "docker.io/library/a--b:latest"),
        ("busybox:_x", "docker.io/library/busybox:_x"),
    ];
    for (input, want) in cases {
        let got = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(got.to_string(), want, "{input}");
    }
}

#[test]
fn digests_and_tags() {
    let r = Reference::parse(&format!("busybox@{D}")).unwrap();
    assert_eq!(r.to_string(), format!("docker.io/library/busybox@{D}"));
    assert_eq!(r.tag(), None);
    assert_eq!(r.manifest_reference(), D);
    let r = Reference::parse(&format!("busybox:1.36@{D}")).unwrap();
    assert_eq!(r.tag(), Some("1.36"));
    assert_eq!(r.digest().unwrap().to_string(), D);
    assert_eq!(r.manifest_reference(), D);
    assert_eq!(
        r.without_digest().to_string(),
        "docker.io/library/busybox:1.36"
    );
}

#[test]
fn familiar_names() {
    for (input, want) in [
        ("nginx", "nginx"),
        ("user/app", "user/app"),
        ("docker.io/library/a/b", "library/a/b"),
        ("localhost:5000/app", "localhost:5000/app"),
    ] {
        assert_eq!(Reference::parse(input).unwrap().familiar_name(), want);
    }
    assert_eq!(
        Reference::parse("nginx").unwrap().familiar(),
        "nginx:latest"
    );
}

#[test]
fn rejects_invalid() {
    use ReferenceError::*;
    let id = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    type Check = fn(&ReferenceError) -> bool;
    let cases: Vec<(String, Check)> = vec![
        ("".into(), |e| matches!(e, Empty)),
        (":tag".into(), |e| matches!(e, Empty)),
        ("Nginx".into(), |e| matches!(e, Uppercase(_))),
        ("docker.io/Library/nginx".into(), |e| {
            matches!(e, Uppercase(_))
        }),
        ("nginx:".into(), |e| matches!(e, BadTag { .. })),
        ("nginx:-x".into(), |e| matches!(e, BadTag { .. })),
        ("nginx:a/b".into(), |e| matches!(e, BadRegistry { .. })),
        (format!("nginx:{}", "a".repeat(129)), |e| {
            matches!(e, BadTag { .. })
        }),
        ("nginx@sha256:abc".into(), |e| matches!(e, Digest { .. })),
        ("nginx@".into(), |e| matches!(e, Digest { .. })),
        ("a//b".into(), |e| matches!(e, BadComponent { .. })),
        ("a/b/".into(), |e| matches!(e, BadComponent { .. })),
        ("-a".into(), |e| matches!(e, BadComponent { .. })),
        ("a_-b".into(), |e| matches!(e, BadComponent { .. })),
        ("a...b".into(), |e| matches!(e, BadComponent { .. })),
        ("a___b".into(), |e| matches!(e, BadComponent { .. })),
        ("host:port/app".into(), |e| matches!(e, BadRegistry { .. })),
        ("-host.io/app".into(), |e| matches!(e, BadRegistry { .. })),
        ("[zz]:5000/app".into(), |e| matches!(e, BadRegistry { .. })),
        (id.into(), |e| matches!(e, LooksLikeId(_))),
        (format!("a/{}", "b".repeat(260)), |e| {
            matches!(e, TooLong(_))
        }),
        ("nginx latest".into(), |e| matches!(e, BadComponent { .. })),
    ];
    for (input, check) in cases {
        match Reference::parse(&input) {
            Ok(r) => panic!("{input:?} parsed as {r}"),
            Err(e) => {
                assert!(check(&e), "{input:?}: unexpected error {e:?}");
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

#[test]
fn loose_parse_keeps_missing_tag() {
    let r = Reference::parse_loose("nginx").unwrap();
    assert_eq!(r.tag(), None);
    assert_eq!(r.to_string(), "docker.io/library/nginx");
}
