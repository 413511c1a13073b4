//! containerd on a Kubernetes node, beyond the shared conformance suite: what imagectl
//! pulls is what CRI (the kubelet's interface) sees and what a container runs from, and
//! imagectl never removes what the kubelet needs (images of containers, CRI's pinned
//! sandbox image, images younger than the kubelet's minimum GC age). kubelet and crictl
//! are not installable here: the tests make the CRI calls themselves, and run containers
//! with `ctr run` (CRI sandboxes need CNI, which this machine lacks).

use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::{ImageSpec, ImageStatusRequest};

use crate::crash::bytes_under;
use crate::support::Registry;
use crate::support::containerd::Version;
use crate::support::docker::runnable_image;
use crate::support::fixtures::{
    MediaFormat, app_image, multi_platform, push_image_http, push_index_http,
};
use crate::support::output::text;
use crate::support::stores::{Kind, Under};

/// CRI `ImageStatus` of `image` on the containerd at `socket`: (ID, repo tags, repo digests).
fn cri_status(socket: &str, image: &str) -> Option<(String, Vec<String>, Vec<String>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let channel = containerd_client::connect(socket).await.unwrap();
        let reply = ImageServiceClient::new(channel)
            .image_status(ImageStatusRequest {
                image: Some(ImageSpec {
                    image: image.to_string(),
                    ..Default::default()
                }),
                verbose: false,
            })
            .await
            .unwrap()
            .into_inner();
        reply.image.map(|i| (i.id, i.repo_tags, i.repo_digests))
    })
}

/// An image imagectl pulled is CRI's image by every name CRI makes (tag, repo@digest, ID),
/// and a container runs from it (`ctr run`, from the unpacked snapshot).
fn pulled_image_is_cri_image_and_runs(version: Version) {
    let under = Under::new(match version {
        Version::V16 => Kind::Containerd16,
        Version::V17 => Kind::Containerd17,
        Version::V2 => Kind::Containerd2,
    });
    let reg = Registry::start();
    let digest = push_image_http(&reg, "demo/run", "1", &runnable_image("cri"));
    let name = reg.reference("demo/run:1");
    under.ok(&["pull", &name]);
    let socket = under.containerd().address();
    let (id, tags, digests) = cri_status(&socket, &name).expect("CRI knows the image");
    assert_eq!(tags, vec![name.clone()]);
    assert_eq!(
        digests,
        vec![format!("{}@{digest}", reg.reference("demo/run"))]
    );
    assert_eq!(cri_status(&socket, &id).map(|s| s.0), Some(id.clone()));
    let listed = under.ok(&["images", "--no-trunc", "--format", "{{.ID}}"]);
    assert_eq!(listed.trim(), id, "imagectl's image ID is CRI's");
    let out = under
        .containerd()
        .ctr_run(&name, "imagectl-run-test", &["/bin/true"]);
    assert!(out.status.success(), "ctr run: {}", text(&out));
    // df adds what the unpacked layers take in the snapshotter.
    let df = under.ok(&["df"]);
    assert!(df.contains("Unpacked layers (snapshotter): "), "{df}");
    assert!(!df.contains("(snapshotter): 0B"), "{df}");
}

#[test]
fn pulled_image_is_cri_image_and_runs_1_6() {
    pulled_image_is_cri_image_and_runs(Version::V16)
}

#[test]
fn pulled_image_is_cri_image_and_runs_1_7() {
    pulled_image_is_cri_image_and_runs(Version::V17)
}

#[test]
fn pulled_image_is_cri_image_and_runs_2() {
    pulled_image_is_cri_image_and_runs(Version::V2)
}

/// Containers (running or not), CRI's pinned sandbox image and images younger than the
/// kubelet's minimum GC age are never removed: plan shows each protected with its reason,
/// apply and prune leave them, rmi refuses naming the container.
#[test]
fn what_the_kubelet_needs_stays() {
    let under = Under::new(Kind::Containerd2);
    let reg = Registry::start();
    push_image_http(&reg, "demo/used", "1", &runnable_image("used"));
    push_image_http(&reg, "demo/idle", "1", &app_image("idle", MediaFormat::Oci));
    push_image_http(&reg, "demo/want", "1", &app_image("want", MediaFormat::Oci));
    let used = reg.reference("demo/used:1");
    let idle = reg.reference("demo/idle:1");
    under.ok(&["pull", &used, &idle]);
    // The sandbox image this containerd pins (its CRI config: pause:3.10).
    under.ok(&["tag", &idle, "registry.k8s.io/pause:3.10"]);
    under
        .containerd()
        .ctr_ok(&["containers", "create", &used, "keeper", "/bin/true"]);
    let out = under.run(&["rmi", &used]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("keeper"), "{}", text(&out));

    let policy = under.env.write_policy(&format!(
            "version: 1\nimages:\n  - name: {}/demo/want\n    tags: [\"1\"]\nprune:\n  unmanaged: remove\n",
            reg.host()
        ));
    let p = policy.to_str().unwrap();
    let plan = under.ok(&["plan", "-f", p]);
    assert!(plan.contains("used by container keeper"), "{plan}");
    assert!(plan.contains("pinned by CRI"), "{plan}");
    assert!(!plan.contains("- remove  "), "{plan}");
    under.ok(&["apply", "-f", p, "--yes"]);
    let names = under.names();
    for n in [&used, &idle, &"registry.k8s.io/pause:3.10".to_string()] {
        assert!(names.contains(n), "{n} went: {names:?}");
    }

    // With the kubelet's default minimum age (2 minutes), a just-pulled image stays too.
    under.containerd().ctr_ok(&["containers", "rm", "keeper"]);
    let out = under
        .imagectl()
        .env_remove("IMAGECTL_CONTAINERD_MIN_AGE")
        .args(["plan", "-f", p])
        .output()
        .unwrap();
    let plan = text(&out);
    assert!(
        plan.contains("younger than the kubelet's minimum GC age"),
        "{plan}"
    );
    under
        .imagectl()
        .env_remove("IMAGECTL_CONTAINERD_MIN_AGE")
        .args(["prune", "-a", "-f"])
        .assert()
        .success();
    assert!(under.names().contains(&used), "{:?}", under.names());
    // Without the age rule, the container gone, the unwanted image goes.
    under.ok(&["apply", "-f", p, "--yes"]);
    assert!(!under.names().contains(&used), "{:?}", under.names());
}

/// `--containerd-pull cri` takes the kubelet's own path (CRI PullImage, containerd's
/// hosts.toml), and the next pull of the same tag costs no manifest GET.
#[test]
fn cri_pull_path() {
    let under = Under::new(Kind::Containerd16);
    let reg = Registry::start();
    push_image_http(&reg, "demo/a", "1.0", &app_image("a1", MediaFormat::Oci));
    let a = reg.reference("demo/a:1.0");
    // A registry CRI cannot reach: one line naming CRI's pull and where its settings live.
    let refusing = crate::support::registry::dead_port();
    let dead = format!("127.0.0.1:{}/demo/a:1.0", refusing.port());
    let out = under.run(&["--containerd-pull", "cri", "pull", &dead]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("hosts.toml"), "{}", text(&out));
    under.containerd().trust_plain_http(&reg.host());
    let out = under.ok(&["--containerd-pull", "cri", "pull", &a]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert_eq!(under.names(), vec![a.clone()]);
    assert!(cri_status(&under.containerd().address(), &a).is_some());
    let mark = reg.mark();
    let again = under.ok(&["--containerd-pull", "cri", "pull", &a]);
    assert!(again.contains("up to date"), "{again}");
    assert_eq!(reg.count_since(mark, "GET", "/manifests/"), 0);
    // apply pins each pull to the digest it planned (`repo:tag@digest`), of which CRI keeps
    // only the digest: the tag still ends up on the image.
    push_image_http(&reg, "demo/b", "2.0", &app_image("b2", MediaFormat::Oci));
    let policy = under.env.write_policy(&format!(
        "version: 1\nimages:\n  - name: {}/demo/b\n    tags: [\"2.0\"]\n",
        reg.host()
    ));
    under.ok(&[
        "--containerd-pull",
        "cri",
        "apply",
        "--yes",
        "-f",
        policy.to_str().unwrap(),
    ]);
    let b = reg.reference("demo/b:2.0");
    assert_eq!(under.names(), vec![a, b.clone()]);
    assert!(cri_status(&under.containerd().address(), &b).is_some());
}

/// A multi-platform tag pulled by CRI keeps the whole index but only this host's platform:
/// one image, not damaged, whose ID is that platform's config (as CRI reports it); imagectl's
/// own pull of the same tag then finds it up to date.
#[test]
fn multi_platform_index_from_cri_is_one_image() {
    let under = Under::new(Kind::Containerd2);
    let reg = Registry::start();
    let index = multi_platform("m", MediaFormat::Oci);
    push_index_http(&reg, "demo/multi", "1", &index);
    let name = reg.reference("demo/multi:1");
    under.ok(&["--containerd-pull", "cri", "pull", &name]);
    let amd64 = &index.images[0];
    let ids = under.ok(&["images", "--no-trunc", "--format", "{{.ID}}"]);
    assert_eq!(ids.trim(), amd64.config_digest, "{ids}");
    let (id, _, _) = cri_status(&under.containerd().address(), &name).unwrap();
    assert_eq!(id, amd64.config_digest);
    let doc = under.ok(&["inspect", "-f", "{{.Architecture}}", &name]);
    assert_eq!(doc.trim(), "amd64");
    let mark = reg.mark();
    let again = under.ok(&["pull", &name]);
    assert!(again.contains("up to date"), "{again}");
    assert_eq!(reg.count_since(mark, "GET", "/manifests/"), 0);
}

/// A load into containerd killed mid-way leaves its staging directory in `$TMPDIR`; `df`
/// counts it, the next load removes it, and containerd holds nothing of the killed load.
#[test]
fn killed_load_leaves_nothing_after_the_next_writer() {
    let under = Under::new(Kind::Containerd2);
    let reg = Registry::start();
    let big = crate::support::fixtures::big_image("data", 3, 12 << 20, 300);
    push_image_http(&reg, "demo/big", "1", &big);
    let source = crate::support::TestEnv::new();
    let name = reg.reference("demo/big:1");
    source
        .imagectl()
        .args(["pull", "-q", &name])
        .assert()
        .success();
    let archive = source.root.path().join("big.tar");
    source
        .imagectl()
        .args(["save", "-o", archive.to_str().unwrap(), &name])
        .assert()
        .success();
    let tmpdir = under.env.root.path().join("tmp");
    std::fs::create_dir_all(&tmpdir).unwrap();
    let staging = tmpdir.join("imagectl-staging");
    let mut left = false;
    for _ in 0..12 {
        let mut child = under
            .process()
            .env("TMPDIR", &tmpdir)
            .args(["load", "-q", "-i", archive.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Killed as soon as the load stages something: mid-load, however slow the start.
        crate::support::cli::kill_when(&mut child, || bytes_under(&staging) > 0);
        left = bytes_under(&staging) > 0;
        if left && under.names().is_empty() {
            break;
        }
    }
    assert!(left, "no kill landed mid-load");
    let df = under
        .imagectl()
        .env("TMPDIR", &tmpdir)
        .args(["df", "--format", "json"])
        .output()
        .unwrap();
    let df: serde_json::Value = serde_json::from_slice(&df.stdout).unwrap();
    assert!(df["Leftovers"].as_u64().unwrap() > 0, "{df}");
    under
        .imagectl()
        .env("TMPDIR", &tmpdir)
        .args(["load", "-q", "-i", archive.to_str().unwrap()])
        .assert()
        .success();
    let rest: Vec<_> = std::fs::read_dir(&staging)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(rest.is_empty(), "left in the staging directory: {rest:?}");
    assert_eq!(under.names(), vec![name]);
}
