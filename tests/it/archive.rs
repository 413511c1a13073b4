//! `imagectl save` and `imagectl load` against real peers: archives written by `docker save`
//! and skopeo load in imagectl with the same image IDs and names, and imagectl's archives load
//! in `docker load` and skopeo. Hostile archives are in `archive/hostile.rs`;
//! the peers are in `docker.rs`, `peers.rs` and `round_trip.rs`, imagectl's own save in
//! `save.rs`.

mod craft;
mod docker;
mod hostile;
mod peers;
mod round_trip;
mod save;

use std::io::Read as _;
use std::path::Path;
use std::process::{Command as StdCommand, Stdio};

use crate::support::cli::{imagectl_bin, skopeo_ok};
use crate::support::docker::{Dockerd, runnable_image};
use crate::support::fixtures::{
    self, FixtureImage, ImageBuilder, Layer, MediaFormat, OciLayout, app_image,
};
use crate::support::output::stdout_ok_as as ok;
use crate::support::{Registry, TestEnv};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `imagectl ARGS` on `env`'s store; asserts success and returns stdout.
fn run_ok(env: &TestEnv, args: &[&str]) -> String {
    ok(
        &env.imagectl().args(args).output().unwrap(),
        &format!("imagectl {args:?}"),
    )
}

/// `imagectl inspect -f {{.Id}} IMAGE`.
fn id_of(env: &TestEnv, image: &str) -> String {
    run_ok(env, &["inspect", "-f", "{{.Id}}", image])
        .trim()
        .to_string()
}

/// `imagectl inspect -f '{{json .RepoTags}}' IMAGE`, sorted.
fn repo_tags_of(env: &TestEnv, image: &str) -> Vec<String> {
    let v: Vec<String> = serde_json::from_str(&run_ok(
        env,
        &["inspect", "-f", "{{json .RepoTags}}", image],
    ))
    .unwrap();
    sorted(v)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// `imagectl --store STORE` as a std command (for pipes), with `env`'s `HOME` and the
/// variables the shared helpers scrub removed.
fn std_imagectl(env: &TestEnv) -> StdCommand {
    let mut cmd = StdCommand::new(imagectl_bin());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("IMAGECTL_")
            || k.starts_with("DOCKER_")
            || k.starts_with("XDG_")
            || k.to_ascii_lowercase().ends_with("_proxy")
        {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd.env("HOME", &env.home)
        .env("NO_COLOR", "1")
        .arg("--store")
        .arg(&env.store);
    cmd
}

/// A store that pulled each `(image, "repo:tag")` from `reg` (pushed byte for byte first).
fn pulled(reg: &Registry, images: &[(&FixtureImage, &str)]) -> TestEnv {
    let env = TestEnv::new();
    for (image, repo_tag) in images {
        let (repo, tag) = repo_tag.rsplit_once(':').unwrap();
        fixtures::push_image_http(reg, repo, tag, image);
        run_ok(&env, &["pull", "-q", &reg.reference(repo_tag)]);
    }
    env
}

/// Loads `archive` (a docker-archive) into `dockerd` after writing it from an OCI layout
/// with skopeo: `skopeo copy oci:LAYOUT:REF docker-archive:FILE:NAME`.
fn docker_load_via_skopeo(d: &Dockerd, image: &FixtureImage, name: &str, dir: &Path) {
    let layout = dir.join("layout");
    OciLayout::create(&layout).add_image(image, "img");
    let file = dir.join(format!("{}.tar", name.replace(['/', ':'], "_")));
    skopeo_ok(&[
        "copy",
        "--quiet",
        &format!("oci:{}:img", layout.display()),
        &format!("docker-archive:{}:{name}", file.display()),
    ]);
    let out = d.load(&file);
    assert!(out.contains(&format!("Loaded image: {name}")), "{out}");
}

/// Runs `imagectl fsck` and asserts a sound store.
fn assert_fsck_clean(env: &TestEnv) {
    let out = run_ok(env, &["fsck"]);
    assert!(out.contains("no problems"), "{out}");
}
