//! `tag` and `rmi`: which names go, what is deleted, what docker would print.

use super::*;
use crate::support::fixtures::{OciLayout, app_image};

// ---------------------------------------------------------------------------------------
// tag
// ---------------------------------------------------------------------------------------

/// `tag SRC DST` prints nothing and the new name resolves to the same image.
#[test]
fn tag_adds_a_name_that_resolves() {
    let t = two();
    let dst = t.reg.reference("demo/copy:latest");
    let out = ok(&t.env, &["tag", &t.r1, &dst]);
    assert_eq!(out, "");
    let id = ok(&t.env, &["inspect", "-f", "{{.Id}}", &dst]);
    assert_eq!(id.trim(), t.fx.app_v1.config_digest);
    // Without a tag the name means :latest, as in docker.
    let id = ok(
        &t.env,
        &["inspect", "-f", "{{.Id}}", &t.reg.reference("demo/copy")],
    );
    assert_eq!(id.trim(), t.fx.app_v1.config_digest);
    assert!(store_refs(&t.env.store).contains(&dst));
    assert_fsck_clean(&t.env);
}

/// `tag` accepts an image ID prefix and a full `sha256:` ID as the source.
#[test]
fn tag_by_id_prefix_and_full_id() {
    let t = two();
    let by_prefix = t.reg.reference("demo/byprefix:1");
    ok(
        &t.env,
        &["tag", &hex_of(&t.fx.app_v2.config_digest)[..8], &by_prefix],
    );
    let id = ok(&t.env, &["inspect", "-f", "{{.Id}}", &by_prefix]);
    assert_eq!(id.trim(), t.fx.app_v2.config_digest);

    let by_full = t.reg.reference("demo/byfull:1");
    ok(&t.env, &["tag", &t.fx.app_v1.config_digest, &by_full]);
    let id = ok(&t.env, &["inspect", "-f", "{{.Id}}", &by_full]);
    assert_eq!(id.trim(), t.fx.app_v1.config_digest);
}

/// Tagging to a reference that carries a digest is refused and changes nothing.
#[test]
fn tag_to_digest_reference_is_refused() {
    let t = two();
    let before = fs::read(t.env.store.join("index.json")).unwrap();
    let target = format!("{}@{}", t.reg.reference("demo/pinned"), t.d1);
    let line = fails_with_one_line(&run(&t.env, &["tag", &t.r1, &target]), "tag @digest");
    assert!(line.contains("digest"), "{line}");
    assert_eq!(fs::read(t.env.store.join("index.json")).unwrap(), before);
    // An unknown source is an error too.
    let line = fails_with_one_line(
        &run(
            &t.env,
            &[
                "tag",
                &t.reg.reference("demo/nope:1"),
                &t.reg.reference("x:1"),
            ],
        ),
        "unknown source",
    );
    assert!(line.contains("no such image"), "{line}");
    assert_eq!(fs::read(t.env.store.join("index.json")).unwrap(), before);
}

// ---------------------------------------------------------------------------------------
// rmi
// ---------------------------------------------------------------------------------------

/// `rmi NAME` of an image that has other names only untags it: one `Untagged:` line, no
/// blob removed, the other name still resolves.
#[test]
fn rmi_name_with_other_names_only_untags() {
    let t = two();
    let extra = t.reg.reference("demo/copy:1");
    ok(&t.env, &["tag", &t.r1, &extra]);
    let blobs = StoreProbe::new(&t.env.store).blob_digests();
    let out = ok(&t.env, &["rmi", &extra]);
    assert_eq!(out, format!("Untagged: {extra}\n"));
    assert_eq!(StoreProbe::new(&t.env.store).blob_digests(), blobs);
    let refs = store_refs(&t.env.store);
    assert!(!refs.contains(&extra), "{refs:?}");
    let id = ok(&t.env, &["inspect", "-f", "{{.Id}}", &t.r1]);
    assert_eq!(id.trim(), t.fx.app_v1.config_digest);
}

/// `rmi NAME` of an image's last name prints `Untagged:` and `Deleted: sha256:<config>`;
/// the blobs only that image used leave `blobs/sha256/`, the shared base layer stays.
#[test]
fn rmi_last_name_deletes_image_and_its_unique_blobs() {
    let t = two();
    let out = ok(&t.env, &["rmi", &t.r1]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&format!("Untagged: {}", t.r1).as_str()));
    assert!(
        lines.contains(&format!("Deleted: {}", t.fx.app_v1.config_digest).as_str()),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("Untagged: ") || l.starts_with("Deleted: ")),
        "{out}"
    );
    let s = &t.env.store;
    assert!(
        !StoreProbe::new(s).has_blob(&t.fx.app_v1.manifest_digest),
        "manifest left"
    );
    assert!(
        !StoreProbe::new(s).has_blob(&t.fx.app_v1.config_digest),
        "config left"
    );
    assert!(
        !StoreProbe::new(s).has_blob(&t.fx.app_v1.layers[1].digest),
        "app layer left"
    );
    assert!(
        StoreProbe::new(s).has_blob(&t.fx.app_v1.layers[0].digest),
        "shared base gone"
    );
    for (d, _) in t.fx.app_v2.blobs() {
        assert!(StoreProbe::new(s).has_blob(&d), "app-v2 blob {d} gone");
    }
    assert!(StoreProbe::new(s).has_blob(&t.fx.app_v2.manifest_digest));
    assert_eq!(store_refs(s), vec![t.r2.clone()]);
    assert_fsck_clean(&t.env);
}

/// `rmi ID` of an image with several names fails naming them and changes nothing; with
/// `-f` every name goes and the image is deleted.
#[test]
fn rmi_id_with_several_names_needs_force() {
    let t = two();
    let extra = t.reg.reference("demo/copy:1");
    ok(&t.env, &["tag", &t.r1, &extra]);
    let before = fs::read(t.env.store.join("index.json")).unwrap();
    let blobs = StoreProbe::new(&t.env.store).blob_digests();
    let id = short(&t.fx.app_v1.config_digest);

    let out = run(&t.env, &["rmi", &id]);
    let line = fails_with_one_line(&out, "rmi ID");
    assert!(
        line.contains(&t.r1) && line.contains(&extra),
        "names both: {line}"
    );
    assert_eq!(stdout(&out), "");
    assert_eq!(fs::read(t.env.store.join("index.json")).unwrap(), before);
    assert_eq!(StoreProbe::new(&t.env.store).blob_digests(), blobs);

    let out = ok(&t.env, &["rmi", "-f", &id]);
    for name in [&t.r1, &extra] {
        assert!(out.contains(&format!("Untagged: {name}\n")), "{out}");
    }
    assert!(
        out.contains(&format!("Deleted: {}\n", t.fx.app_v1.config_digest)),
        "{out}"
    );
    assert_eq!(store_refs(&t.env.store), vec![t.r2.clone()]);
    assert!(!StoreProbe::new(&t.env.store).has_blob(&t.fx.app_v1.config_digest));
    assert!(StoreProbe::new(&t.env.store).has_blob(&t.fx.app_v1.layers[0].digest));
    assert_fsck_clean(&t.env);
}

/// `rmi sha256:<64 hex>` means the image with that ID, as docker reads it, never the name
/// `docker.io/library/sha256:<hex>` (a valid name, here given to another image): with no
/// such ID it is `no such image`, and only the spelled-out name untags that name. The store
/// is an OCI layout written directly, no registry.
#[test]
fn rmi_full_sha256_id_is_an_id_never_a_name() {
    let env = TestEnv::new();
    let (v1, v2) = (
        app_image("1.0", MediaFormat::Oci),
        app_image("2.0", MediaFormat::Oci),
    );
    let mut layout = OciLayout::create(&env.store);
    layout.add_image(&v1, "app-v1");
    layout.add_image(&v2, "app-v2");
    let id = &v1.config_digest;
    let as_name = format!("docker.io/library/{id}");
    ok(&env, &["tag", "app-v2", id]);
    let tagged = ok(&env, &["inspect", "-f", "{{.Id}}", &as_name]);
    assert_eq!(tagged.trim(), v2.config_digest, "the name is app-v2's");

    let out = ok(&env, &["rmi", id]);
    assert_eq!(out, format!("Untagged: app-v1\nDeleted: {id}\n"));
    let line = fails_with_one_line(&run(&env, &["rmi", id]), "rmi of a gone ID");
    assert!(line.contains("no such image"), "{line}");
    assert!(store_refs(&env.store).contains(&as_name), "the name stays");

    let out = ok(&env, &["rmi", &as_name]);
    assert_eq!(out, format!("Untagged: {id}\n"));
    assert_eq!(store_refs(&env.store), vec!["app-v2".to_string()]);
    assert_fsck_clean(&env);
}

/// `rmi` of an unknown image fails with `no such image`, while the other images in the same
/// command are still removed.
#[test]
fn rmi_unknown_image_fails_but_others_are_processed() {
    let t = two();
    let nope = t.reg.reference("demo/nope:1");
    let out = run(&t.env, &["rmi", &nope, &t.r1]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no such image"), "{err}");
    assert!(err.contains(&nope), "{err}");
    assert!(
        stdout(&out).contains(&format!("Untagged: {}", t.r1)),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains(&format!("Deleted: {}", t.fx.app_v1.config_digest)),
        "{}",
        stdout(&out)
    );
    assert_eq!(store_refs(&t.env.store), vec![t.r2.clone()]);
    assert!(!StoreProbe::new(&t.env.store).has_blob(&t.fx.app_v1.config_digest));
}

/// `rmi REPO@DIGEST` (a name the image resolves by) never claims `Deleted:` for an image
/// that is still in the store: whatever it prints is what happened.
#[test]
fn rmi_by_digest_reference_reports_what_it_did() {
    let t = two();
    let by_digest = format!("{}@{}", t.reg.reference("demo/app"), t.d1);
    // The image resolves by that reference.
    let id = ok(&t.env, &["inspect", "-f", "{{.Id}}", &by_digest]);
    assert_eq!(id.trim(), t.fx.app_v1.config_digest);

    let out = run(&t.env, &["rmi", &by_digest]);
    let printed = stdout(&out);
    let still_listed = ok(&t.env, &["images", "-q", "--no-trunc"])
        .lines()
        .any(|l| l == t.fx.app_v1.config_digest);
    if printed.contains(&format!("Deleted: {}", t.fx.app_v1.config_digest)) {
        assert!(
            !still_listed,
            "rmi printed {printed:?} but the image is still in the store: {:?}",
            store_refs(&t.env.store)
        );
    }
    if still_listed {
        // Docker untags only the digest reference and keeps the image under its tag.
        assert!(
            !printed.contains("Deleted:"),
            "image kept but rmi said {printed:?}"
        );
    }
    assert_fsck_clean(&t.env);
}

/// A Docker Hub name given by `tag` is shown and matched in docker's familiar form
/// (`nginx:1.25`), and `rmi` untags it by that form.
#[test]
fn docker_hub_names_in_familiar_form() {
    let t = two();
    ok(&t.env, &["tag", &t.r1, "nginx:1.25"]);
    assert!(store_refs(&t.env.store).contains(&"docker.io/library/nginx:1.25".to_string()));
    let listed = ok(
        &t.env,
        &[
            "images",
            "nginx",
            "--format",
            "{{.Repository}} {{.Tag}} {{.ID}}",
        ],
    );
    assert_eq!(
        listed,
        format!("nginx 1.25 {}\n", short(&t.fx.app_v1.config_digest))
    );
    let filtered = ok(
        &t.env,
        &[
            "images",
            "--filter",
            "reference=ngin*",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ],
    );
    assert_eq!(filtered, "nginx:1.25\n");
    let tags = ok(
        &t.env,
        &["inspect", "-f", "{{json .RepoTags}}", "nginx:1.25"],
    );
    let tags: Vec<String> = serde_json::from_str(&tags).unwrap();
    assert!(tags.contains(&"nginx:1.25".to_string()), "{tags:?}");
    let out = ok(&t.env, &["rmi", "docker.io/library/nginx:1.25"]);
    assert_eq!(out, "Untagged: nginx:1.25\n");
}

/// A name given by `tag` has no repo digest: the image was never pulled from (or pushed
/// to) that repository, so `inspect` lists no `REPO@sha256:…` for it and `images
/// --digests` shows `<none>`, as docker does.
#[test]
fn tag_does_not_invent_repo_digests() {
    let t = two();
    let copy = t.reg.reference("demo/copy:1");
    ok(&t.env, &["tag", &t.r1, &copy]);
    let out = ok(&t.env, &["inspect", "-f", "{{json .RepoDigests}}", &copy]);
    let digests: Vec<String> = serde_json::from_str(&out).unwrap();
    assert_eq!(
        digests,
        vec![format!("{}@{}", t.reg.reference("demo/app"), t.d1)],
        "only the pulled repository has a repo digest"
    );
    let out = ok(
        &t.env,
        &[
            "images",
            "--digests",
            "--format",
            "{{.Repository}} {{.Digest}}",
            &t.reg.reference("demo/copy"),
        ],
    );
    assert_eq!(out, format!("{} <none>\n", t.reg.reference("demo/copy")));
}

/// An image another tool wrote under a short `ref.name` (skopeo's `oci:STORE:app-v1`) is
/// listed by that name, never pruned as dangling, and `rmi NAME` removes it.
#[test]
fn foreign_short_name_is_listed_kept_by_prune_and_removable() {
    let t = two();
    crate::support::cli::skopeo_ok(&[
        "copy",
        "--quiet",
        &format!("oci:{}:multi", t.fx.layout().display()),
        &format!("oci:{}:other-tool", t.env.store.display()),
    ]);
    let amd = t.fx.multi.image("linux/amd64");
    let listed = ok(&t.env, &["images", "--format", "{{.Repository}} {{.Tag}}"]);
    assert!(listed.lines().any(|l| l == "other-tool <none>"), "{listed}");
    ok(&t.env, &["prune", "-f"]);
    assert!(store_refs(&t.env.store).contains(&"other-tool".to_string()));
    assert!(
        StoreProbe::new(&t.env.store).has_blob(&amd.config_digest)
            || StoreProbe::new(&t.env.store).has_blob(&t.fx.multi.digest)
    );
    let out = ok(&t.env, &["rmi", "other-tool"]);
    assert!(out.starts_with("Untagged: other-tool\n"), "{out}");
    assert!(out.contains("Deleted: "), "{out}");
    assert!(!store_refs(&t.env.store).contains(&"other-tool".to_string()));
    assert_fsck_clean(&t.env);
    let mut refs = store_refs(&t.env.store);
    refs.sort();
    assert_eq!(refs, vec![t.r1.clone(), t.r2.clone()]);
}
