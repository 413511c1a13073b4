//! The inputs of docker's reference library's own test tables (`reference_test.go` and
//! `normalize_test.go` of `distribution/reference` v0.6.0), grouped by the Go test they come
//! from, each typed as a reference: what `ParseNormalizedNamed` gives for it, not what the
//! API function that test calls gives (`WithName("example.com/repo:tag")` fails; typed as
//! a reference it is fine).

use super::Kind::*;
use super::{Case, err, ok, r};

/// `reference_test.go`.
pub(super) fn reference_test_go() -> Vec<Case> {
    vec![
        // TestReferenceParse
        ok("test_com", "docker.io/library/test_com:latest"),
        ok("test.com:tag", "docker.io/library/test.com:tag"),
        ok("test.com:5000", "docker.io/library/test.com:5000"),
        ok("test.com/repo:tag", "test.com/repo:tag"),
        ok("test:5000/repo", "test:5000/repo:latest"),
        ok("test:5000/repo:tag", "test:5000/repo:tag"),
        ok(
            format!("test:5000/repo@sha256:{}", r("f", 64)),
            format!("test:5000/repo@sha256:{}", r("f", 64)),
        ),
        ok(
            format!("test:5000/repo:tag@sha256:{}", r("f", 64)),
            format!("test:5000/repo:tag@sha256:{}", r("f", 64)),
        ),
        err("", Empty),
        err(":justtag", Empty),
        err(format!("@sha256:{}", r("f", 64)), Empty),
        err(format!("repo@sha256:{}", r("f", 34)), DigestLength),
        err(
            format!("validname@invaliddigest:{}", r("f", 64)),
            DigestAlgorithm,
        ),
        err("Uppercase:tag", Uppercase),
        err("test:5000/Uppercase/lowercase:tag", Uppercase),
        ok(
            "lowercase:Uppercase",
            "docker.io/library/lowercase:Uppercase",
        ),
        err(format!("domain/{}:tag", r("a", 256)), TooLong),
        ok(
            format!("{}a:tag-puts-this-over-max", r("a/", 127)),
            format!("docker.io/{}a:tag-puts-this-over-max", r("a/", 127)),
        ),
        err("aa/asdf$$^/aa", Component),
        ok(
            "sub-dom1.foo.com/bar/baz/quux",
            "sub-dom1.foo.com/bar/baz/quux:latest",
        ),
        ok(
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        ),
        ok(
            "b.gcr.io/test.example.com/my-app:test.example.com",
            "b.gcr.io/test.example.com/my-app:test.example.com",
        ),
        ok(
            "xn--n3h.com/myimage:xn--n3h.com",
            "xn--n3h.com/myimage:xn--n3h.com",
        ),
        ok(
            format!("xn--7o8h.com/myimage:xn--7o8h.com@sha512:{}", r("f", 128)),
            format!("xn--7o8h.com/myimage:xn--7o8h.com@sha512:{}", r("f", 128)),
        ),
        ok("foo_bar.com:8080", "docker.io/library/foo_bar.com:8080"),
        ok("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080"),
        ok("192.168.1.1", "docker.io/library/192.168.1.1:latest"),
        ok("192.168.1.1:tag", "docker.io/library/192.168.1.1:tag"),
        ok("192.168.1.1:5000", "docker.io/library/192.168.1.1:5000"),
        ok("192.168.1.1/repo", "192.168.1.1/repo:latest"),
        ok("192.168.1.1:5000/repo", "192.168.1.1:5000/repo:latest"),
        ok("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050"),
        err("[2001:db8::1]", Tag),
        err("[2001:db8::1]:5000", Component),
        err("[2001:db8::1]:tag", Component),
        ok("[2001:db8::1]/repo", "[2001:db8::1]/repo:latest"),
        ok(
            "[2001:db8:1:2:3:4:5:6]/repo:tag",
            "[2001:db8:1:2:3:4:5:6]/repo:tag",
        ),
        ok("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000/repo:latest"),
        ok("[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000/repo:tag"),
        ok(
            format!("[2001:db8::1]:5000/repo@sha256:{}", r("f", 64)),
            format!("[2001:db8::1]:5000/repo@sha256:{}", r("f", 64)),
        ),
        ok(
            format!("[2001:db8::1]:5000/repo:tag@sha256:{}", r("f", 64)),
            format!("[2001:db8::1]:5000/repo:tag@sha256:{}", r("f", 64)),
        ),
        ok("[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo:latest"),
        ok("[::1]:5000/repo", "[::1]:5000/repo:latest"),
        err("[fe80::1%eth0]:5000/repo", Registry),
        err("[fe80::1%@invalidzone]:5000/repo", Digest),
        ok(
            format!("example.com/{}:tag", r("a", 255)),
            format!("example.com/{}:tag", r("a", 255)),
        ),
        // TestWithNameFailure
        ok("example.com/repo:tag", "example.com/repo:tag"),
        err(format!("example.com/{}", r("a", 256)), TooLong),
        // TestDomainAndPath
        ok("test.com/foo", "test.com/foo:latest"),
        ok("test_com/foo", "docker.io/test_com/foo:latest"),
        ok("test:8080/foo", "test:8080/foo:latest"),
        ok("test.com:8080/foo", "test.com:8080/foo:latest"),
        ok("test-com:8080/foo", "test-com:8080/foo:latest"),
        ok("xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo:latest"),
        // TestSerialization
        ok("example.com:8000/named", "example.com:8000/named:latest"),
        ok(
            "example.com:8000/named:tagged",
            "example.com:8000/named:tagged",
        ),
        ok(
            "other.com/named@sha256:1234567890098765432112345667890098765432112345667890098765432112",
            "other.com/named@sha256:1234567890098765432112345667890098765432112345667890098765432112",
        ),
        // TestWithTag / TestWithDigest (the combined strings, as typed)
        ok("foo:tag2", "docker.io/library/foo:tag2"),
        ok("test.com/foo:tag", "test.com/foo:tag"),
        ok("test.com:8000/foo:tag4", "test.com:8000/foo:tag4"),
        ok("test.com:8000/foo:TAG5", "test.com:8000/foo:TAG5"),
        err(
            "test.com:8000/foo:TAG5@sha256:1234567890098765432112345667890098765",
            DigestLength,
        ),
        err(
            "test.com/foo@sha256:1234567890098765432112345667890098765",
            DigestLength,
        ),
        err(
            "foo@sha256:1234567890098765432112345667890098765",
            DigestLength,
        ),
        err(
            "test.com:8000/foo:latest@sha256:1234567890098765432112345667890098765",
            DigestLength,
        ),
        // TestParseNamed
        ok("test.com", "docker.io/library/test.com:latest"),
        ok("foo", "docker.io/library/foo:latest"),
        ok("library/foo", "docker.io/library/foo:latest"),
        ok("docker.io/library/foo", "docker.io/library/foo:latest"),
        ok("docker.io/foo", "docker.io/library/foo:latest"),
    ]
}

/// `normalize_test.go`.
pub(super) fn normalize_test_go() -> Vec<Case> {
    vec![
        // TestValidateReferenceName
        ok("docker/docker", "docker.io/docker/docker:latest"),
        ok("library/debian", "docker.io/library/debian:latest"),
        ok("debian", "docker.io/library/debian:latest"),
        ok(
            "localhost/library/debian",
            "localhost/library/debian:latest",
        ),
        ok("localhost/debian", "localhost/debian:latest"),
        ok(
            "LOCALDOMAIN/library/debian",
            "LOCALDOMAIN/library/debian:latest",
        ),
        ok("LOCALDOMAIN/debian", "LOCALDOMAIN/debian:latest"),
        ok("docker.io/docker/docker", "docker.io/docker/docker:latest"),
        ok(
            "docker.io/library/debian",
            "docker.io/library/debian:latest",
        ),
        ok("docker.io/debian", "docker.io/library/debian:latest"),
        ok(
            "index.docker.io/docker/docker",
            "docker.io/docker/docker:latest",
        ),
        ok(
            "index.docker.io/library/debian",
            "docker.io/library/debian:latest",
        ),
        ok("index.docker.io/debian", "docker.io/library/debian:latest"),
        ok(
            "127.0.0.1:5000/docker/docker",
            "127.0.0.1:5000/docker/docker:latest",
        ),
        ok(
            "127.0.0.1:5000/library/debian",
            "127.0.0.1:5000/library/debian:latest",
        ),
        ok("127.0.0.1:5000/debian", "127.0.0.1:5000/debian:latest"),
        ok("192.168.0.1", "docker.io/library/192.168.0.1:latest"),
        ok("192.168.0.1:80", "docker.io/library/192.168.0.1:80"),
        ok("192.168.0.1:8/debian", "192.168.0.1:8/debian:latest"),
        ok(
            "192.168.0.2:25000/debian",
            "192.168.0.2:25000/debian:latest",
        ),
        ok(
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest",
        ),
        ok("[fc00::1]:5000/docker", "[fc00::1]:5000/docker:latest"),
        ok(
            "[fc00::1]:5000/docker/docker",
            "[fc00::1]:5000/docker/docker:latest",
        ),
        ok(
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest",
        ),
        ok(
            "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            "docker.io/library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a:latest",
        ),
        ok("Docker/docker", "Docker/docker:latest"),
        ok("DOCKER/docker", "DOCKER/docker:latest"),
        err("https://github.com/docker/docker", Registry),
        err("docker/Docker", Uppercase),
        err("-docker", Component),
        err("-docker/docker", Component),
        err("-docker.io/docker/docker", Registry),
        err("docker///docker", Component),
        err("docker.io/docker/Docker", Uppercase),
        err("docker.io/docker///docker", Component),
        err("[fc00::1]", Tag),
        err("[fc00::1]:5000", Component),
        err("fc00::1:5000/debian", Registry),
        err("[fe80::1%eth0]:5000/debian", Registry),
        err("[2001:db8:3:4::192.0.2.33]:5000/debian", Registry),
        err(
            "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            LooksLikeId,
        ),
        // TestValidateRemoteName
        ok(
            "docker-rules/docker",
            "docker.io/docker-rules/docker:latest",
        ),
        ok(
            "docker---rules/docker",
            "docker.io/docker---rules/docker:latest",
        ),
        ok("doc/docker", "docker.io/doc/docker:latest"),
        ok("d/docker", "docker.io/d/docker:latest"),
        ok("jess/t", "docker.io/jess/t:latest"),
        ok("dock__er/docker", "docker.io/dock__er/docker:latest"),
        err("docker-/docker", Component),
        err("-docker-/docker", Component),
        err("____/____", Component),
        err("_docker/_docker", Component),
        err("dock..er/docker", Registry),
        err("dock_.er/docker", Registry),
        err("dock-.er/docker", Registry),
        err("docker/", Component),
        err(
            "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker",
            TooLong,
        ),
        // TestParseRepositoryInfo (familiar, full and ambiguous names)
        ok("localhost/fooo", "localhost/fooo:latest"),
        ok("localhost/fooo/bar", "localhost/fooo/bar:latest"),
        ok("LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo:latest"),
        ok("LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar:latest"),
        ok("fooo/bar", "docker.io/fooo/bar:latest"),
        ok("docker.io/fooo/bar", "docker.io/fooo/bar:latest"),
        ok("index.docker.io/fooo/bar", "docker.io/fooo/bar:latest"),
        ok("ubuntu", "docker.io/library/ubuntu:latest"),
        ok(
            "docker.io/library/ubuntu",
            "docker.io/library/ubuntu:latest",
        ),
        ok("library/ubuntu", "docker.io/library/ubuntu:latest"),
        ok("nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu:latest"),
        ok(
            "docker.io/nonlibrary/ubuntu",
            "docker.io/nonlibrary/ubuntu:latest",
        ),
        ok("other/library", "docker.io/other/library:latest"),
        ok("docker.io/other/library", "docker.io/other/library:latest"),
        ok(
            "127.0.0.1:8000/private/moonbase",
            "127.0.0.1:8000/private/moonbase:latest",
        ),
        ok(
            "127.0.0.1:8000/privatebase",
            "127.0.0.1:8000/privatebase:latest",
        ),
        ok(
            "example.com/private/moonbase",
            "example.com/private/moonbase:latest",
        ),
        ok("example.com/privatebase", "example.com/privatebase:latest"),
        ok(
            "example.com:8000/private/moonbase",
            "example.com:8000/private/moonbase:latest",
        ),
        ok(
            "example.com:8000/privatebasee",
            "example.com:8000/privatebasee:latest",
        ),
        ok(
            "ubuntu-12.04-base",
            "docker.io/library/ubuntu-12.04-base:latest",
        ),
        ok(
            "docker.io/library/ubuntu-12.04-base",
            "docker.io/library/ubuntu-12.04-base:latest",
        ),
        ok(
            "index.docker.io/library/ubuntu-12.04-base",
            "docker.io/library/ubuntu-12.04-base:latest",
        ),
        ok("docker.io/library/foo", "docker.io/library/foo:latest"),
        ok("library/foo/bar", "docker.io/library/foo/bar:latest"),
        ok(
            "docker.io/library/foo/bar",
            "docker.io/library/foo/bar:latest",
        ),
        ok("store/foo/bar", "docker.io/store/foo/bar:latest"),
        ok("docker.io/store/foo/bar", "docker.io/store/foo/bar:latest"),
        ok("Foo/bar", "Foo/bar:latest"),
        ok("FOO/bar", "FOO/bar:latest"),
        // TestParseReferenceWithTagAndDigest, TestInvalidReferenceComponents
        ok(
            "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
            "docker.io/library/busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
        ),
        err("-foo", Component),
        ok("busybox", "docker.io/library/busybox:latest"),
        // TestParseAnyReference (references and their equivalents)
        ok("redis", "docker.io/library/redis:latest"),
        ok("redis:latest", "docker.io/library/redis:latest"),
        ok("docker.io/library/redis", "docker.io/library/redis:latest"),
        ok(
            "docker.io/library/redis:latest",
            "docker.io/library/redis:latest",
        ),
        ok(
            "redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
            "docker.io/library/redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
        ),
        ok(
            "docker.io/library/redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
            "docker.io/library/redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
        ),
        ok("dmcgowan/myapp", "docker.io/dmcgowan/myapp:latest"),
        ok("dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest"),
        ok(
            "docker.io/dmcgowan/myapp",
            "docker.io/dmcgowan/myapp:latest",
        ),
        ok(
            "docker.io/dmcgowan/myapp:latest",
            "docker.io/dmcgowan/myapp:latest",
        ),
        ok(
            "docker.io/mcgowan/myapp:latest",
            "docker.io/mcgowan/myapp:latest",
        ),
        ok(
            "dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
            "docker.io/dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
        ),
        ok(
            "docker.io/dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
            "docker.io/dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
        ),
        err(
            "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
            LooksLikeId,
        ),
        ok(
            "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
            "docker.io/library/sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
        ),
        ok(
            "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
            "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9:latest",
        ),
        ok(
            "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
            "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9:latest",
        ),
        ok("dbcc1", "docker.io/library/dbcc1:latest"),
        ok("docker.io/library/dbcc1", "docker.io/library/dbcc1:latest"),
        // TestNormalizedSplitHostname
        ok("docker/migrator", "docker.io/docker/migrator:latest"),
        ok("xn--n3h.com/foo", "xn--n3h.com/foo:latest"),
        // TestMatch
        ok("foo/any/bat", "docker.io/foo/any/bat:latest"),
        ok("foo/a/bar", "docker.io/foo/a/bar:latest"),
        ok("foo/b/baz", "docker.io/foo/b/baz:latest"),
        ok("foo/c/baz:tag", "docker.io/foo/c/baz:tag"),
        ok("example.com/foo/c/baz:tag", "example.com/foo/c/baz:tag"),
        // TestParseDockerRef (inputs and expected outputs)
        ok("busybox:latest", "docker.io/library/busybox:latest"),
        ok(
            "busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
            "docker.io/library/busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
        ),
        ok("library/busybox", "docker.io/library/busybox:latest"),
        ok("docker.io/busybox", "docker.io/library/busybox:latest"),
        ok(
            "docker.io/library/busybox",
            "docker.io/library/busybox:latest",
        ),
        ok(
            "docker.io/busybox:latest",
            "docker.io/library/busybox:latest",
        ),
        ok("library/busybox:latest", "docker.io/library/busybox:latest"),
        ok(
            "docker.io/library/busybox:latest",
            "docker.io/library/busybox:latest",
        ),
        ok("gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
        ok(
            "gcr.io/library/busybox:latest@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
            "gcr.io/library/busybox:latest@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
        ),
        ok(
            "docker.io/library/busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
            "docker.io/library/busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
        ),
        ok(
            "gcr.io/library/busybox:latest",
            "gcr.io/library/busybox:latest",
        ),
        ok(
            "gcr.io/library/busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
            "gcr.io/library/busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
        ),
    ]
}
