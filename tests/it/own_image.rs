//! imagectl's own container image, as `scripts/build-image.sh` makes it from the binary under
//! test: loaded and run by the tests' dockerd, containerd (`ctr`) and podman, loaded and
//! pushed by imagectl, and the same digest for the same input.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use crate::support::cli::{TestEnv, succeeded};
use crate::support::containerd::{Containerd, Version};
use crate::support::docker::Dockerd;
use crate::support::fixtures::{app_image, push_image_http};
use crate::support::output::stdout_ok_as as ok;
use crate::support::{MediaFormat, Registry};

/// The name `scripts/build-image.sh` gives the image by default (`imagectl:VERSION`).
const NAME: &str = concat!("imagectl:", env!("CARGO_PKG_VERSION"));
const FULL_NAME: &str = concat!("docker.io/library/imagectl:", env!("CARGO_PKG_VERSION"));
const VERSION_LINE: &str = concat!("imagectl ", env!("CARGO_PKG_VERSION"));

/// An image build's output directory (`oci/` and the archive).
struct Built {
    dir: PathBuf,
}

impl Built {
    fn archive(&self) -> PathBuf {
        self.dir
            .join(concat!("imagectl-", env!("CARGO_PKG_VERSION"), ".tar"))
    }

    fn index(&self) -> serde_json::Value {
        serde_json::from_slice(&fs::read(self.dir.join("oci/index.json")).unwrap()).unwrap()
    }

    fn manifest_digest(&self) -> String {
        self.index()["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// Runs `scripts/build-image.sh OUT` on the binary under test, asserting it succeeded.
fn build_image(out: &Path) -> Built {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-image.sh");
    let result = crate::support::tools::tool("bash")
        .arg(&script)
        .arg(out)
        .env("IMAGECTL", crate::support::cli::imagectl_bin())
        .env_remove("IMAGE_NAME")
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&result.stderr)
    );
    Built {
        dir: out.to_path_buf(),
    }
}

/// One build per test process, shared by the tests that only read it: in
/// `own-image/<pid>` below cargo's temp dir, where the builds of finished processes are
/// removed first (tens of MiB each).
fn image() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("own-image");
        fs::create_dir_all(&base).unwrap();
        for entry in fs::read_dir(&base).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let gone = name
                .parse::<u32>()
                .is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
            if gone {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        build_image(&base.join(std::process::id().to_string()))
    })
}

/// Two builds from the same commit give the same manifest digest and the same archive
/// bytes; the config says who runs it, what runs, and where it came from.
#[test]
fn own_image_is_reproducible_with_its_config_and_labels() {
    let first = image();
    let second_dir = tempfile::tempdir().unwrap();
    let second = build_image(second_dir.path());
    assert_eq!(first.manifest_digest(), second.manifest_digest());
    assert!(
        fs::read(first.archive()).unwrap() == fs::read(second.archive()).unwrap(),
        "the two archives differ"
    );
    let annotations = &first.index()["manifests"][0]["annotations"];
    assert_eq!(annotations["io.containerd.image.name"], FULL_NAME);

    // skopeo as the independent reader of the layout.
    let layout = format!("oci:{}:{FULL_NAME}", first.dir.join("oci").display());
    let out = crate::support::cli::skopeo()
        .args(["inspect", "--config", &layout])
        .output()
        .unwrap();
    let config: serde_json::Value = serde_json::from_str(&ok(&out, "skopeo inspect")).unwrap();
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/usr/bin/imagectl"]));
    let labels = &c["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    let head = crate::support::tools::tool("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output()
        .unwrap();
    let head = ok(&head, "git rev-parse HEAD");
    let revision = labels["org.opencontainers.image.revision"]
        .as_str()
        .unwrap();
    assert!(revision.starts_with(head.trim()), "{revision} vs {head}");
    assert!(
        labels["org.opencontainers.image.source"]
            .as_str()
            .is_some_and(|s| s.starts_with("https://")),
        "{labels}"
    );
}

/// The tests' dockerd loads the archive and runs it (`--version`), then the image applies a
/// policy against a registry as its unprivileged user, the store in a named volume that a
/// second container lists, and reaches a registry named only in /etc/hosts.
#[test]
fn own_image_runs_in_dockerd_and_applies_into_a_volume() {
    let built = image();
    let reg = Registry::start();
    push_image_http(&reg, "demo/app", "1.0", &app_image("1.0", MediaFormat::Oci));
    let d = Dockerd::builder().insecure_registry(&reg.host()).start();
    let loaded = d.load(&built.archive());
    assert!(loaded.contains(NAME), "{loaded}");
    let out = d.docker_ok(&["run", "--rm", NAME, "--version"]);
    assert_eq!(out.trim(), VERSION_LINE);
    let user = d.docker_ok(&["image", "inspect", "--format", "{{.Config.User}}", NAME]);
    assert_eq!(user.trim(), "65532:65532");

    // The policy in a host directory the container's user can read.
    let policy_dir = tempfile::tempdir().unwrap();
    fs::set_permissions(policy_dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let app = reg.reference("demo/app");
    fs::write(
        policy_dir.path().join("policy.yaml"),
        format!("version: 1\nimages:\n  - name: {app}\n    tags: [\"1.0\"]\n"),
    )
    .unwrap();
    let policy_mount = format!("{}:/etc/imagectl:ro", policy_dir.path().display());
    // --network host: the daemon has no bridge, and the registry listens on loopback.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-v",
        "imagectl-store:/var/lib/imagectl",
        "-v",
        &policy_mount,
        NAME,
        "apply",
        "-f",
        "/etc/imagectl/policy.yaml",
        "--yes",
    ]);
    assert!(out.contains(&format!("{app}:1.0")), "{out}");
    let listed = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "imagectl-store:/var/lib/imagectl",
        NAME,
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    assert_eq!(listed.trim(), format!("{app}:1.0"));

    // A registry known by a name only /etc/hosts has (docker --add-host, hostAliases).
    let named = format!("registry.test:{}", reg.port());
    let tags = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--add-host",
        "registry.test:127.0.0.1",
        NAME,
        "--insecure-registry",
        &named,
        "tags",
        &format!("{named}/demo/app"),
    ]);
    assert_eq!(tags.trim(), "1.0");
}

/// A newer Engine with the containerd image store (dockerd 26, which reads the archive's OCI
/// layout) loads and runs the image as well, its ID the manifest digest.
#[test]
fn own_image_runs_in_dockerd_with_the_containerd_image_store() {
    let built = image();
    let d = Dockerd::builder().containerd_store().start();
    let loaded = d.load(&built.archive());
    assert!(loaded.contains(NAME), "{loaded}");
    assert_eq!(d.image_id(NAME), built.manifest_digest());
    let out = d.docker_ok(&["run", "--rm", NAME, "--version"]);
    assert_eq!(out.trim(), VERSION_LINE);
}

/// The image verifies a registry's certificate against its CA bundle
/// (/etc/ssl/certs/ca-certificates.crt): with the registry's CA there, listing tags over
/// HTTPS works; with the bundle the image ships, the same request is refused.
#[test]
fn own_image_verifies_tls_against_its_ca_bundle() {
    let built = image();
    let feeder = Registry::start();
    push_image_http(
        &feeder,
        "demo/app",
        "1.0",
        &app_image("1.0", MediaFormat::Oci),
    );
    let reg = Registry::builder().tls().storage_of(&feeder).start();
    let d = Dockerd::start();
    d.load(&built.archive());
    // HTTPS although the registry is on loopback (`insecure: false`); no ca_file, so only
    // the bundle decides. Files readable by the image's user.
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        dir.path().join("registries.yaml"),
        format!("registries:\n  \"{}\": {{ insecure: false }}\n", reg.host()),
    )
    .unwrap();
    fs::copy(&reg.pki().ca, dir.path().join("ca.pem")).unwrap();
    fs::set_permissions(dir.path().join("ca.pem"), fs::Permissions::from_mode(0o644)).unwrap();
    let config_mount = format!("{}:/etc/imagectl:ro", dir.path().display());
    let ca_mount = format!(
        "{}:/etc/ssl/certs/ca-certificates.crt:ro",
        dir.path().join("ca.pem").display()
    );
    let repo = reg.reference("demo/app");
    let tags = |extra: &[&str]| {
        let mut args = vec!["run", "--rm", "--network", "host", "-v", &config_mount];
        args.extend_from_slice(extra);
        args.extend([
            NAME,
            "--config",
            "/etc/imagectl/registries.yaml",
            "tags",
            &repo,
        ]);
        d.docker_out(&args)
    };
    let trusted = tags(&["-v", &ca_mount]);
    assert_eq!(ok(&trusted, "tags with the CA in the bundle").trim(), "1.0");
    let untrusted = tags(&[]);
    let err = String::from_utf8_lossy(&untrusted.stderr);
    assert!(
        !untrusted.status.success(),
        "a certificate no CA in the bundle signed was accepted"
    );
    assert!(err.contains("certificate"), "{err}");
}

/// `imagectl load` reads the archive and `imagectl push` puts it in a registry, from which
/// the tests' dockerd pulls and runs it: the README's way to a cluster's registry.
#[test]
fn own_image_loads_into_imagectl_and_pushes_to_a_registry_docker_runs_from() {
    let built = image();
    let reg = Registry::start();
    let env = TestEnv::new();
    let out = env.run(&["load", "-i", built.archive().to_str().unwrap()]);
    let loaded = succeeded(&out);
    assert!(
        loaded.contains(&format!("Loaded image: {NAME}")),
        "{loaded}"
    );
    let target = reg.reference("tools/imagectl:0.1.0");
    let out = env.run(&["push", NAME, &target]);
    succeeded(&out);
    assert_eq!(
        reg.manifest_digest("tools/imagectl", "0.1.0"),
        Some(built.manifest_digest()),
        "an OCI image is pushed with its own digest"
    );
    let d = Dockerd::builder().insecure_registry(&reg.host()).start();
    let out = d.docker_ok(&["run", "--rm", &target, "--version"]);
    assert_eq!(out.trim(), VERSION_LINE);
}

/// podman (its own vfs storage, no daemon) loads the archive under the image's name with
/// the manifest's config.
#[test]
fn own_image_loads_into_podman() {
    let built = image();
    let root = tempfile::tempdir().unwrap();
    let podman = |args: &[&str]| crate::support::tools::podman(root.path(), args);
    let out = podman(&["load", "-i", built.archive().to_str().unwrap()]);
    assert!(out.contains(FULL_NAME), "{out}");
    let entrypoint = podman(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.Entrypoint}} {{.Config.User}}",
        FULL_NAME,
    ]);
    assert_eq!(entrypoint.trim(), "[/usr/bin/imagectl] 65532:65532");
}

/// `ctr images import` of the archive into the tests' containerd, then `ctr run` of it
/// (the snapshot unpacked, the libraries and loader the binary needs all there).
fn runs_under_containerd_with_ctr(version: Version) {
    let built = image();
    let c = Containerd::start(version);
    let imported = c.ctr_ok(&["images", "import", built.archive().to_str().unwrap()]);
    assert!(imported.contains(FULL_NAME), "{imported}");
    // ctr can lose the output of a process that exits right after printing, under load
    // (containerd/containerd#770; concourse/concourse#6775 traces it to the shim's copy):
    // its exit status is the run's, so a successful run with no output runs again, twice
    // at most.
    let mut printed = String::new();
    for _ in 0..3 {
        let out = c.ctr_run(
            FULL_NAME,
            "imagectl-own-image",
            &["/usr/bin/imagectl", "--version"],
        );
        printed = ok(&out, "ctr run");
        if !printed.is_empty() {
            break;
        }
    }
    assert_eq!(printed.trim(), VERSION_LINE);
}

#[test]
fn own_image_runs_under_containerd_with_ctr_1_6() {
    runs_under_containerd_with_ctr(Version::V16)
}

#[test]
fn own_image_runs_under_containerd_with_ctr_2() {
    runs_under_containerd_with_ctr(Version::V2)
}
