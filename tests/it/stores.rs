//! One conformance suite for every store backend: the embedded layout, Debian 12's dockerd
//! (20.10, classic image store), a newer dockerd with the containerd image store, and
//! containerd 1.6 and 2.x. Each scenario is written once against [`Under`] and
//! instantiated per backend at the bottom.

use std::io::Write as _;
use std::process::Stdio;

use crate::support::Registry;
use crate::support::docker::runnable_image;
use crate::support::fixtures::{MediaFormat, app_image, push_image_http};
use crate::support::output::text;
use crate::support::stores::{Kind, Under};

/// A registry holding demo/a:1.0 and demo/b:1.0 (distinct images sharing a base layer).
fn registry_with_two() -> (Registry, String, String) {
    let reg = Registry::start();
    push_image_http(&reg, "demo/a", "1.0", &app_image("a1", MediaFormat::Oci));
    push_image_http(&reg, "demo/b", "1.0", &app_image("b1", MediaFormat::Docker));
    let a = reg.reference("demo/a:1.0");
    let b = reg.reference("demo/b:1.0");
    (reg, a, b)
}

/// Pulled images get their names; pulling them again costs no manifest GET; tag adds a
/// name, rmi of one name untags, rmi of the last name deletes.
fn names_follow_pull_tag_rmi(kind: Kind) {
    let under = Under::new(kind);
    let (reg, a, b) = registry_with_two();
    under.ok(&["pull", &a, &b]);
    assert_eq!(under.names(), vec![a.clone(), b.clone()]);
    let mark = reg.mark();
    let again = under.ok(&["pull", &a]);
    assert!(again.contains("up to date"), "{again}");
    assert_eq!(reg.count_since(mark, "GET", "/manifests/"), 0);
    under.ok(&["tag", &a, "local/x:1"]);
    assert!(
        under.names().contains(&"local/x:1".to_string()),
        "{:?}",
        under.names()
    );
    let out = under.ok(&["rmi", "local/x:1"]);
    assert!(out.contains("Untagged: local/x:1"), "{out}");
    assert_eq!(under.image_count(), 2);
    let out = under.ok(&["rmi", &b]);
    assert!(out.contains("Deleted:"), "{out}");
    assert_eq!(under.names(), vec![a]);
    assert_eq!(under.image_count(), 1);
}

/// A tag that moved leaves the old image dangling; prune removes it and nothing else.
fn prune_removes_only_dangling(kind: Kind) {
    let under = Under::new(kind);
    let (reg, a, _) = registry_with_two();
    under.ok(&["pull", &a]);
    push_image_http(&reg, "demo/a", "1.0", &app_image("a2", MediaFormat::Oci));
    let out = under.ok(&["pull", &a]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    // The containerd image store drops an image whose last name a load moved away (the
    // classic store and the layout keep it as <none>).
    let dangling_kept = kind != Kind::DockerContainerd;
    assert_eq!(under.image_count(), 1 + dangling_kept as usize);
    let dangling = under.ok(&["images", "-q", "--filter", "dangling=true"]);
    assert_eq!(
        dangling.lines().count(),
        dangling_kept as usize,
        "{dangling}"
    );
    under.ok(&["prune", "-f"]);
    assert_eq!(under.image_count(), 1);
    assert_eq!(under.names(), vec![a]);
}

/// df counts every image once, and its total is what the images need.
fn usage_counts_every_image(kind: Kind) {
    let under = Under::new(kind);
    let (_reg, a, b) = registry_with_two();
    under.ok(&["pull", &a, &b]);
    let json: serde_json::Value =
        serde_json::from_str(&under.ok(&["df", "--format", "json"])).unwrap();
    assert_eq!(json["Images"], 2, "{json}");
    let per: u64 = json["PerImage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["UniqueSize"].as_u64().unwrap())
        .sum();
    let shared = json["PerImage"][0]["SharedSize"].as_u64().unwrap();
    assert!(shared > 0, "the shared base layer counts as shared: {json}");
    assert_eq!(json["TotalSize"].as_u64().unwrap(), per + shared, "{json}");
    let table = under.ok(&["df", "-v"]);
    assert!(
        table.contains("demo/a") && table.contains("demo/b"),
        "{table}"
    );
}

/// save then load brings an image back under its name.
fn save_then_load_round_trips(kind: Kind) {
    let under = Under::new(kind);
    let (_reg, a, _) = registry_with_two();
    under.ok(&["pull", &a]);
    under.ok(&["tag", &a, "local/keep:1"]);
    let archive = under.env.root.path().join("a.tar");
    under.ok(&["save", "-o", archive.to_str().unwrap(), "local/keep:1"]);
    under.ok(&["rmi", "local/keep:1", &a]);
    assert_eq!(under.image_count(), 0);
    let out = under.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: local/keep:1"), "{out}");
    assert_eq!(under.names(), vec!["local/keep:1".to_string()]);
}

/// A damaged archive is refused in one line and the store is exactly as before.
fn damaged_archive_changes_nothing(kind: Kind) {
    let under = Under::new(kind);
    let (_reg, a, _) = registry_with_two();
    under.ok(&["pull", &a]);
    let archive = under.env.root.path().join("a.tar");
    under.ok(&["tag", &a, "local/new:1"]);
    under.ok(&["save", "-o", archive.to_str().unwrap(), "local/new:1"]);
    under.ok(&["rmi", "local/new:1"]);
    let bytes = std::fs::read(&archive).unwrap();
    let cut = under.env.root.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let before = (under.names(), under.image_count());
    let out = under.run(&["load", "-i", cut.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!((under.names(), under.image_count()), before);
}

/// A load killed halfway (the archive was still arriving) leaves the store as it was,
/// and the same archive loads whole afterwards.
fn interrupted_load_changes_nothing(kind: Kind) {
    let under = Under::new(kind);
    let (_reg, a, _) = registry_with_two();
    under.ok(&["pull", &a]);
    under.ok(&["tag", &a, "local/late:1"]);
    let archive = under.env.root.path().join("a.tar");
    under.ok(&["save", "-o", archive.to_str().unwrap(), "local/late:1"]);
    under.ok(&["rmi", "local/late:1"]);
    let before = (under.names(), under.image_count());
    let bytes = std::fs::read(&archive).unwrap();
    let mut child = under
        .process()
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes[..bytes.len() / 2]).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert_eq!((under.names(), under.image_count()), before);
    under.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(under.names().contains(&"local/late:1".to_string()));
}

/// Unknown images, bad references and an unreachable registry: one line each, exit 1,
/// nothing changed.
fn bad_input_changes_nothing(kind: Kind) {
    let under = Under::new(kind);
    let (_reg, a, _) = registry_with_two();
    under.ok(&["pull", &a]);
    let before = (under.names(), under.image_count());
    let refusing = crate::support::registry::dead_port();
    let dead = format!("127.0.0.1:{}/demo/a:1.0", refusing.port());
    for args in [
        vec!["rmi", "nosuch/image:1"],
        vec!["tag", "nosuch/image:1", "x/y:1"],
        vec!["tag", &a, "Bad Name"],
        vec!["inspect", "nosuch/image:1"],
        vec!["pull", &dead],
    ] {
        let out = under.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.trim().lines().count() >= 1, "{args:?}: {err}");
        assert!(
            err.lines().all(|l| l.starts_with("error:")),
            "{args:?}: {err}"
        );
    }
    assert_eq!((under.names(), under.image_count()), before);
}

/// The same policy ends in the same names on every store, and a second run is a no-op.
fn policy_converges_then_noop(kind: Kind) {
    let under = Under::new(kind);
    let (reg, a, b) = registry_with_two();
    push_image_http(&reg, "demo/a", "0.9", &app_image("a09", MediaFormat::Oci));
    let host = reg.host();
    let policy = under.env.write_policy(&format!(
            "version: 1\nimages:\n  - name: {host}/demo/a\n    tags: [\"1.0\"]\n  - name: {host}/demo/b\n    tags: [\"1.0\"]\n    also_tag: [\"local/b:stable\"]\nprune:\n  dangling: true\n  unmanaged: remove\n"
        ),
    );
    under.ok(&["pull", &reg.reference("demo/a:0.9")]);
    under.ok(&["apply", "-f", policy.to_str().unwrap(), "--yes"]);
    assert_eq!(under.names(), vec![a, b, "local/b:stable".to_string()]);
    let mark = reg.mark();
    let out = under.run(&[
        "plan",
        "-f",
        policy.to_str().unwrap(),
        "--detailed-exitcode",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(reg.count_since(mark, "GET", "/manifests/"), 0);
}

/// A pinned digest (no tag) converges too: applied once, the next plan is empty, and prune
/// does not take the image for dangling.
fn pinned_digest_converges(kind: Kind) {
    let under = Under::new(kind);
    let reg = Registry::start();
    let digest = push_image_http(&reg, "demo/pin", "1.0", &app_image("p1", MediaFormat::Oci));
    let policy = under.env.write_policy(&format!(
        "version: 1\nimages:\n  - name: {}/demo/pin@{digest}\nprune:\n  dangling: true\n",
        reg.host()
    ));
    under.ok(&["apply", "-f", policy.to_str().unwrap(), "--yes"]);
    assert_eq!(under.image_count(), 1);
    let out = under.run(&[
        "plan",
        "-f",
        policy.to_str().unwrap(),
        "--detailed-exitcode",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    under.ok(&["prune", "-f"]);
    assert_eq!(under.image_count(), 1);
}

/// Containers pin their images: rmi refuses naming the container, prune -a keeps the
/// image, and a policy that drops it shows it protected and leaves it.
fn containers_pin_images(kind: Kind) {
    let under = Under::new(kind);
    let reg = Registry::start();
    push_image_http(&reg, "demo/run", "1", &runnable_image("pinned"));
    let name = reg.reference("demo/run:1");
    under.ok(&["pull", &name]);
    under
        .docker()
        .docker_ok(&["create", "--name", "keeper", &name, "true"]);
    let out = under.run(&["rmi", &name]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("container"), "{}", text(&out));
    under.ok(&["prune", "-a", "-f"]);
    assert_eq!(under.names(), vec![name.clone()]);
    let policy = under.env.write_policy(&format!(
            "version: 1\nimages:\n  - name: {}/demo/other\n    tags: [\"1\"]\nprune:\n  unmanaged: remove\n",
            reg.host()
        ),
    );
    push_image_http(&reg, "demo/other", "1", &app_image("o", MediaFormat::Oci));
    let plan = under.ok(&["plan", "-f", policy.to_str().unwrap()]);
    assert!(plan.contains("keeper"), "{plan}");
    under.ok(&["apply", "-f", policy.to_str().unwrap(), "--yes"]);
    assert!(under.names().contains(&name), "{:?}", under.names());
    // A running container: even -f does not delete its image (docker's rule).
    under.docker().docker_ok(&["rm", "keeper"]);
    under
        .docker()
        .docker_ok(&["run", "-d", "--name", "live", &name, "sh", "-c", "sleep 30"]);
    let out = under.run(&["rmi", "-f", &name]);
    assert!(under.image_count() >= 1, "{}", text(&out));
    under.docker().docker_ok(&["rm", "-f", "live"]);
}

/// A password whose X-Registry-Auth encoding holds `+` and `/` in standard base64: the
/// daemon reads base64url and ignores what it cannot decode.
const AWKWARD_PASSWORD: &str = "p>>>?~~~s?s>w~";

/// The Engine's own pull gets imagectl's credentials (re-encoded so the daemon reads them:
/// an ignored header would pull anonymously and fail with 401), and a tag it pulled is up
/// to date for one HEAD afterwards.
fn engine_pull_uses_imagectl_credentials(kind: Kind) {
    use base64::Engine as _;
    let json = format!(r#"{{"username":"ci","password":"{AWKWARD_PASSWORD}"}}"#);
    let std = base64::engine::general_purpose::STANDARD.encode(json);
    assert!(std.contains('+') && std.contains('/'), "{std}");
    let under = Under::new(kind);
    let reg = Registry::builder().htpasswd("ci", AWKWARD_PASSWORD).start();
    push_image_http(&reg, "demo/a", "1.0", &app_image("a1", MediaFormat::Oci));
    let a = reg.reference("demo/a:1.0");
    under.env.docker_login(&reg.host(), "ci", AWKWARD_PASSWORD);
    let out = under.ok(&["--docker-pull", "engine", "pull", &a]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert_eq!(under.names(), vec![a.clone()]);
    let mark = reg.mark();
    let again = under.ok(&["--docker-pull", "engine", "pull", &a]);
    assert!(again.contains("up to date"), "{again}");
    assert_eq!(reg.count_since(mark, "GET", "/manifests/"), 0);
    under.env.docker_login(&reg.host(), "ci", "wrong");
    push_image_http(&reg, "demo/b", "1.0", &app_image("b1", MediaFormat::Oci));
    let out = under.run(&[
        "--docker-pull",
        "engine",
        "pull",
        &reg.reference("demo/b:1.0"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("demo/b"), "{}", text(&out));
    assert_eq!(under.names(), vec![a]);
}

/// fsck on a daemon says in one line that the Engine keeps its own layers.
fn fsck_says_what_the_backend_cannot(kind: Kind) {
    let under = Under::new(kind);
    let out = under.run(&["fsck"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let backend = match kind {
        Kind::Containerd16 | Kind::Containerd17 | Kind::Containerd2 => "containerd",
        _ => "Docker Engine",
    };
    assert!(err.contains(backend), "{err}");
}

/// Every scenario on every store, then the daemon-only ones (`$extra`) where given.
macro_rules! on_store {
    ($kind_mod:ident, $kind:expr $(, $extra:ident)* $(,)?) => {
        mod $kind_mod {
            use super::Kind;
            $crate::stores::tests_for!(
                $kind;
                names_follow_pull_tag_rmi,
                prune_removes_only_dangling,
                usage_counts_every_image,
                save_then_load_round_trips,
                damaged_archive_changes_nothing,
                interrupted_load_changes_nothing,
                bad_input_changes_nothing,
                policy_converges_then_noop,
                pinned_digest_converges
                $(, $extra)*
            );
        }
    };
}

/// One `#[test]` per scenario, each calling it with `kind`.
macro_rules! tests_for {
    ($kind:expr; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                super::$name($kind)
            }
        )*
    };
}
pub(crate) use tests_for;

on_store!(embedded, Kind::Embedded);
on_store!(
    docker_classic,
    Kind::DockerClassic,
    containers_pin_images,
    fsck_says_what_the_backend_cannot,
    engine_pull_uses_imagectl_credentials,
);
on_store!(
    docker_containerd,
    Kind::DockerContainerd,
    containers_pin_images,
    fsck_says_what_the_backend_cannot,
    engine_pull_uses_imagectl_credentials,
);
on_store!(
    containerd_1_6,
    Kind::Containerd16,
    fsck_says_what_the_backend_cannot
);
on_store!(
    containerd_1_7,
    Kind::Containerd17,
    fsck_says_what_the_backend_cannot
);
on_store!(
    containerd_2,
    Kind::Containerd2,
    fsck_says_what_the_backend_cannot
);
