//! Docker's archives in imagectl and imagectl's in Docker: `docker save` and skopeo's
//! docker-archive load with docker's image IDs and tags; imagectl's archive loads in
//! `docker load` and runs.

use super::*;

/// An archive `docker save` wrote (images that came in by `docker load` and by `docker pull`
/// from a registry, sharing a layer) loads in imagectl with docker's image IDs, tags and
/// layers.
#[test]
fn docker_save_loads_with_the_same_ids_and_tags() {
    let reg = Registry::start();
    let d = Dockerd::builder().insecure_registry(&reg.host()).start();
    let work = tempfile::tempdir().unwrap();

    let v1 = app_image("1.0", MediaFormat::Oci);
    docker_load_via_skopeo(&d, &v1, "demo/app:1.0", work.path());
    d.docker_ok(&["tag", "demo/app:1.0", "demo/app:stable"]);
    let v2 = app_image("2.0", MediaFormat::Docker);
    fixtures::push_image_http(&reg, "demo/pulled", "2.0", &v2);
    let pulled_ref = reg.reference("demo/pulled:2.0");
    d.docker_ok(&["pull", "-q", &pulled_ref]);

    let archive = work.path().join("docker-save.tar");
    d.save(&archive, &["demo/app:1.0", "demo/app:stable", &pulled_ref]);

    let env = TestEnv::new();
    let out = run_ok(&env, &["load", "-i", &archive.display().to_string()]);
    for name in ["demo/app:1.0", "demo/app:stable", pulled_ref.as_str()] {
        assert!(
            out.contains(&format!("Loaded image: {name}")),
            "names {name}: {out}"
        );
        assert_eq!(id_of(&env, name), d.image_id(name), "{name}");
        let docker_tags: Vec<String> =
            serde_json::from_value(d.inspect(name)["RepoTags"].clone()).unwrap();
        assert_eq!(repo_tags_of(&env, name), sorted(docker_tags), "{name}");
        let layers = run_ok(&env, &["inspect", "-f", "{{json .RootFS.Layers}}", name]);
        let docker_layers = &d.inspect(name)["RootFS"]["Layers"];
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&layers).unwrap(),
            *docker_layers,
            "{name}"
        );
    }
    assert_eq!(id_of(&env, "demo/app:1.0"), v1.config_digest);
    assert_eq!(id_of(&env, &pulled_ref), v2.config_digest);
    assert_fsck_clean(&env);

    // Loading the same archive again adds nothing: same blobs, same names on the same
    // manifests (only imagectl's own time annotations may move).
    let entries = |env: &TestEnv| {
        let mut v: Vec<(String, String)> = env.store_index()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let name = m["annotations"][fixtures::REF_NAME].as_str().unwrap_or("");
                (name.to_string(), m["digest"].as_str().unwrap().to_string())
            })
            .collect();
        v.sort();
        v
    };
    let blobs = |env: &TestEnv| crate::errors::fingerprint(&env.store.join("blobs"));
    let (names_before, blobs_before) = (entries(&env), blobs(&env));
    let out = run_ok(&env, &["load", "-q", "-i", &archive.display().to_string()]);
    assert!(!out.contains("error"), "{out}");
    assert_eq!(entries(&env), names_before);
    assert_eq!(blobs(&env), blobs_before);
}

/// A layer that is the top layer of one image and a lower layer of another gets two legacy
/// layer IDs in `docker save` (20.10), which writes it once and a relative symlink to it for
/// the other ID: imagectl loads such an archive (a link that stays inside the archive and
/// points at a layer it holds is docker's format, not an attack).
#[test]
fn docker_save_with_a_layer_symlink_loads() {
    let d = Dockerd::start();
    let work = tempfile::tempdir().unwrap();
    let early = ImageBuilder::new().layer(fixtures::base_layer()).build();
    let late = ImageBuilder::new()
        .layer(fixtures::base_layer())
        .layer(Layer::from_files(&[("late/marker", "late\n")]))
        .build();
    assert_eq!(early.layers[0].diff_id, late.layers[0].diff_id);
    docker_load_via_skopeo(&d, &early, "demo/early:1", work.path());
    docker_load_via_skopeo(&d, &late, "demo/late:1", work.path());
    let archive = work.path().join("linked.tar");
    d.save(&archive, &["demo/early:1", "demo/late:1"]);
    let entries = craft::list(&std::fs::read(&archive).unwrap());
    let links: Vec<&String> = entries
        .iter()
        .filter(|e| e.1 == tar::EntryType::Symlink)
        .map(|e| &e.0)
        .collect();
    assert_eq!(links.len(), 1, "docker wrote one layer symlink: {links:?}");

    let env = TestEnv::new();
    let out = run_ok(&env, &["load", "-i", &archive.display().to_string()]);
    assert!(out.contains("Loaded image: demo/early:1"), "{out}");
    assert!(out.contains("Loaded image: demo/late:1"), "{out}");
    assert_eq!(id_of(&env, "demo/early:1"), d.image_id("demo/early:1"));
    assert_eq!(id_of(&env, "demo/late:1"), d.image_id("demo/late:1"));
    assert_fsck_clean(&env);
}

/// A docker-archive skopeo writes (`<diff-id>.tar` layers, `<id>/layer.tar -> ../<diff-id>.tar`
/// symlinks for legacy readers) loads in imagectl with the same ID.
#[test]
fn skopeo_docker_archive_loads() {
    let work = tempfile::tempdir().unwrap();
    let image = app_image("5.0", MediaFormat::Oci);
    let layout = work.path().join("layout");
    OciLayout::create(&layout).add_image(&image, "img");
    let file = work.path().join("skopeo.tar");
    skopeo_ok(&[
        "copy",
        "--quiet",
        &format!("oci:{}:img", layout.display()),
        &format!("docker-archive:{}:demo/skopeo:5.0", file.display()),
    ]);
    let env = TestEnv::new();
    let out = run_ok(&env, &["load", "-i", &file.display().to_string()]);
    assert!(out.contains("Loaded image: demo/skopeo:5.0"), "{out}");
    assert_eq!(id_of(&env, "demo/skopeo:5.0"), image.config_digest);
    assert_fsck_clean(&env);
}

/// An archive imagectl saved loads in `docker load` with the same image ID under the same
/// name, and the image runs; an image saved by ID loads as `Loaded image ID:`.
#[test]
fn imagectl_save_loads_in_docker_and_runs() {
    let reg = Registry::start();
    let image = runnable_image("saved by imagectl");
    let env = pulled(&reg, &[(&image, "demo/run:1")]);
    let name = reg.reference("demo/run:1");
    let id = id_of(&env, &name);
    assert_eq!(id, image.config_digest);

    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("run.tar");
    let out = env.run(&["save", "-o", &archive.display().to_string(), &name]);
    ok(&out, "imagectl save");
    assert!(out.stdout.is_empty(), "nothing on stdout with -o");

    let d = Dockerd::start();
    let loaded = d.load(&archive);
    assert!(
        loaded.contains(&format!("Loaded image: {name}")),
        "{loaded}"
    );
    assert_eq!(d.image_id(&name), id);
    let docker_layers = d.inspect(&name)["RootFS"]["Layers"].clone();
    assert_eq!(docker_layers, serde_json::json!(image.diff_ids()));

    // The image runs: docker unpacked every layer imagectl wrote.
    let out = d.docker_out(&["run", "--rm", "--network", "none", &name, "true"]);
    ok(&out, "docker run IMAGE true");
    let out = d.docker_out(&[
        "run",
        "--rm",
        "--network",
        "none",
        &name,
        "sh",
        "-c",
        "cat /etc/note",
    ]);
    assert_eq!(ok(&out, "docker run cat").trim(), "saved by imagectl");

    // By ID: no name in the archive, docker says which ID it loaded.
    let by_id = work.path().join("by-id.tar");
    run_ok(
        &env,
        &["save", "-o", &by_id.display().to_string(), &id[7..19]],
    );
    let d2 = Dockerd::start();
    let loaded = d2.load(&by_id);
    assert!(
        loaded.contains(&format!("Loaded image ID: {id}")),
        "{loaded}"
    );
    // And imagectl reads it back the same way.
    let env2 = TestEnv::new();
    let out = run_ok(&env2, &["load", "-i", &by_id.display().to_string()]);
    assert!(out.contains(&format!("Loaded image ID: {id}")), "{out}");
    assert_eq!(id_of(&env2, &id), id);
}
