//! `inspect` and `history`: docker's documents and tables over stored configs.

use super::*;

// ---------------------------------------------------------------------------------------
// inspect
// ---------------------------------------------------------------------------------------

/// `inspect` prints a JSON array with docker's document: Id (config digest), RepoTags and
/// RepoDigests in familiar form, platform, Config from the image config, RootFS diff_ids
/// and Size.
#[test]
fn inspect_prints_docker_document() {
    let t = two();
    let out = ok(&t.env, &["inspect", &t.r1]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let arr = v.as_array().expect("a JSON array");
    assert_eq!(arr.len(), 1);
    let d = &arr[0];
    let cfg = t.fx.app_v1.config_json();
    assert_eq!(d["Id"], t.fx.app_v1.config_digest.as_str());
    assert_eq!(d["RepoTags"], json!([t.r1]));
    assert_eq!(
        d["RepoDigests"],
        json!([format!("{}@{}", t.reg.reference("demo/app"), t.d1)])
    );
    assert_eq!(d["Architecture"], "amd64");
    assert_eq!(d["Os"], "linux");
    assert_eq!(d["Created"], "2024-01-01T00:00:00Z");
    assert_eq!(d["Config"]["Env"], cfg["config"]["Env"]);
    assert_eq!(d["Config"]["Cmd"], json!(["/bin/hello", "1.0"]));
    assert_eq!(
        d["Config"]["Labels"]["org.opencontainers.image.version"],
        "1.0"
    );
    assert_eq!(d["RootFS"]["Type"], "layers");
    assert_eq!(d["RootFS"]["Layers"], json!(t.fx.app_v1.diff_ids()));
    assert_eq!(d["Size"], json!(t.fx.app_v1.total_size()));
    assert_eq!(d["Descriptor"]["digest"], t.d1.as_str());

    // A second name shows up in RepoTags.
    let extra = t.reg.reference("demo/copy:x");
    ok(&t.env, &["tag", &t.r1, &extra]);
    let v: Value = serde_json::from_str(&ok(&t.env, &["inspect", &extra])).unwrap();
    let mut tags: Vec<String> = v[0]["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    tags.sort();
    let mut want = vec![extra.clone(), t.r1.clone()];
    want.sort();
    assert_eq!(tags, want);
}

/// `inspect -f` renders Go templates, including `json`.
#[test]
fn inspect_format_templates() {
    let t = two();
    let out = ok(
        &t.env,
        &["inspect", "-f", "{{.Os}}/{{.Architecture}}", &t.r1],
    );
    assert_eq!(out, "linux/amd64\n");
    let out = ok(&t.env, &["inspect", "-f", "{{json .Config.Cmd}}", &t.r2]);
    assert_eq!(out, "[\"/bin/hello\",\"2.0\"]\n");
    let out = ok(&t.env, &["inspect", "--format", "{{.Id}}", &t.r1, &t.r2]);
    assert_eq!(
        out,
        format!(
            "{}\n{}\n",
            t.fx.app_v1.config_digest, t.fx.app_v2.config_digest
        )
    );
}

/// `inspect` of several images prints them all in order; an unknown one makes it exit 1
/// with `no such image` but the known ones are still printed.
#[test]
fn inspect_several_images_and_an_unknown_one() {
    let t = two();
    let v: Value = serde_json::from_str(&ok(&t.env, &["inspect", &t.r2, &t.r1])).unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["Id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            t.fx.app_v2.config_digest.as_str(),
            t.fx.app_v1.config_digest.as_str()
        ]
    );

    let nope = t.reg.reference("demo/nope:1");
    let out = run(&t.env, &["inspect", &t.r1, &nope, &t.r2]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no such image"), "{}", stderr(&out));
    assert!(stderr(&out).contains(&nope), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("known images still printed");
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["Id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            t.fx.app_v1.config_digest.as_str(),
            t.fx.app_v2.config_digest.as_str()
        ]
    );
}

// ---------------------------------------------------------------------------------------
// history
// ---------------------------------------------------------------------------------------

/// `history` lists the config's history newest first: the image ID on the top row and
/// `<missing>` below, the `created_by` texts (truncated to 45 characters), empty layers
/// as 0B and layers with their compressed size.
#[test]
fn history_rows_newest_first() {
    let t = two();
    let out = ok(&t.env, &["history", &t.r1]);
    let rows = table(&out);
    assert_eq!(
        rows[0],
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    );
    assert_eq!(rows.len(), 4, "{out}");
    let base_by = "COPY etc/os-release etc/motd bin/hello / # buildkit";
    let truncated: String = base_by.chars().take(44).chain(['…']).collect();
    let layers = &t.fx.app_v1.layers;
    let expected = [
        (
            short(&t.fx.app_v1.config_digest),
            "ENV APP_VERSION=1.0".to_string(),
            "0B".to_string(),
        ),
        (
            "<missing>".to_string(),
            "COPY app/version app/README / # buildkit".to_string(),
            si(layers[1].size),
        ),
        ("<missing>".to_string(), truncated, si(layers[0].size)),
    ];
    for (row, (id, by, size)) in rows[1..].iter().zip(&expected) {
        assert_eq!(row.len(), 4, "{row:?}");
        assert_eq!(&row[0], id, "{out}");
        assert!(row[1].ends_with(" ago"), "{row:?}");
        assert_eq!(&row[2], by, "{out}");
        assert_eq!(&row[3], size, "{out}");
    }
}

/// `history --no-trunc` shows the full ID and full `created_by`; `--format '{{.CreatedBy}}'`
/// prints just those texts, newest first; `-q` only the IDs.
#[test]
fn history_no_trunc_and_format() {
    let t = two();
    let out = ok(&t.env, &["history", "--no-trunc", &t.r1]);
    let rows = table(&out);
    assert_eq!(rows[1][0], t.fx.app_v1.config_digest);
    assert_eq!(
        rows[3][2],
        "COPY etc/os-release etc/motd bin/hello / # buildkit"
    );

    let out = ok(
        &t.env,
        &["history", "--no-trunc", "--format", "{{.CreatedBy}}", &t.r2],
    );
    assert_eq!(
        out,
        "ENV APP_VERSION=2.0\nCOPY app/version app/README / # buildkit\n\
         COPY etc/os-release etc/motd bin/hello / # buildkit\n"
    );
    let out = ok(&t.env, &["history", "--format", "{{.ID}} {{.Size}}", &t.r2]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!("{} 0B", short(&t.fx.app_v2.config_digest)),
            format!("<missing> {}", si(t.fx.app_v2.layers[1].size)),
            format!("<missing> {}", si(t.fx.app_v2.layers[0].size)),
        ]
    );
    let out = ok(&t.env, &["history", "-q", &t.r2]);
    assert_eq!(
        out,
        format!(
            "{}\n<missing>\n<missing>\n",
            short(&t.fx.app_v2.config_digest)
        )
    );
}
