//! `images`: columns, filters and --format.

use super::*;

// ---------------------------------------------------------------------------------------
// images
// ---------------------------------------------------------------------------------------

/// `images` prints docker's header and one row per name: repository, tag, the first 12 hex
/// of the config digest, the creation age and the bytes on disk, in aligned columns.
#[test]
fn images_default_table() {
    let t = two();
    let out = ok(&t.env, &["images"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let header = lines[0];
    assert_eq!(
        table(header)[0],
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
        "{out}"
    );
    let rows = table(&out);
    for (tag, img) in [("1.0", &t.fx.app_v1), ("2.0", &t.fx.app_v2)] {
        let row = rows
            .iter()
            .find(|r| r.get(1).map(String::as_str) == Some(tag))
            .unwrap_or_else(|| panic!("no row for tag {tag}: {out}"));
        assert_eq!(row.len(), 5, "{row:?}");
        assert_eq!(row[0], t.reg.reference("demo/app"));
        assert_eq!(row[2], short(&img.config_digest));
        assert!(row[3].ends_with(" ago"), "CREATED of a 2024 image: {row:?}");
        assert_eq!(row[4], si(img.total_size()), "SIZE is bytes on disk");
    }
    // Columns are aligned under their headers.
    let id_col = header.find("IMAGE ID").unwrap();
    let size_col = header.find("SIZE").unwrap();
    for line in &lines[1..] {
        let row = &table(line)[0];
        assert_eq!(
            &line[id_col..id_col + 12],
            row[2],
            "IMAGE ID misaligned: {out}"
        );
        assert_eq!(&line[size_col..], row[4], "SIZE misaligned: {out}");
    }
}

/// `images -q` prints only the short IDs, one per row.
#[test]
fn images_quiet_prints_short_ids() {
    let t = two();
    let out = ok(&t.env, &["images", "-q"]);
    let ids: BTreeSet<&str> = out.lines().collect();
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_eq!(
        ids,
        BTreeSet::from([
            short(&t.fx.app_v1.config_digest).as_str(),
            short(&t.fx.app_v2.config_digest).as_str()
        ])
    );
}

/// `images --digests` adds a DIGEST column after TAG with the digest each name was pulled by.
#[test]
fn images_digests_column() {
    let t = two();
    let out = ok(&t.env, &["images", "--digests"]);
    let rows = table(&out);
    assert_eq!(
        rows[0],
        ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"]
    );
    let row1 = rows.iter().find(|r| r[1] == "1.0").expect("1.0 row");
    assert_eq!(row1[2], t.d1);
    assert_eq!(row1[3], short(&t.fx.app_v1.config_digest));
    let row2 = rows.iter().find(|r| r[1] == "2.0").expect("2.0 row");
    assert_eq!(row2[2], t.d2);
}

/// `images --no-trunc` shows the full `sha256:…` image ID; `-q --no-trunc` too.
#[test]
fn images_no_trunc_shows_full_ids() {
    let t = two();
    let out = ok(&t.env, &["images", "--no-trunc"]);
    let rows = table(&out);
    let row1 = rows.iter().find(|r| r[1] == "1.0").expect("1.0 row");
    assert_eq!(row1[2], t.fx.app_v1.config_digest);
    let q = ok(&t.env, &["images", "-q", "--no-trunc"]);
    let ids: BTreeSet<&str> = q.lines().collect();
    assert_eq!(
        ids,
        BTreeSet::from([
            t.fx.app_v1.config_digest.as_str(),
            t.fx.app_v2.config_digest.as_str()
        ])
    );
}

/// A positional `REPO[:TAG]` lists only that repository (and tag).
#[test]
fn images_positional_reference_filters() {
    let t = two();
    let other = t.reg.reference("demo/other:9");
    ok(&t.env, &["tag", &t.r1, &other]);

    let tags = |args: &[&str]| -> Vec<(String, String)> {
        let mut full = vec!["images", "--format", "{{.Repository}} {{.Tag}}"];
        full.extend_from_slice(args);
        let mut v: Vec<(String, String)> = ok(&t.env, &full)
            .lines()
            .map(|l| {
                let (a, b) = l.split_once(' ').unwrap();
                (a.to_string(), b.to_string())
            })
            .collect();
        v.sort();
        v
    };
    let app = t.reg.reference("demo/app");
    assert_eq!(
        tags(&[&app]),
        vec![(app.clone(), "1.0".into()), (app.clone(), "2.0".into())]
    );
    assert_eq!(tags(&[&t.r2]), vec![(app.clone(), "2.0".into())]);
    assert_eq!(
        tags(&[&t.reg.reference("demo/other")]),
        vec![(t.reg.reference("demo/other"), "9".into())]
    );
    assert!(tags(&[&t.reg.reference("demo/app:3.0")]).is_empty());
    // The default table with a non-matching filter is just the header.
    let out = ok(&t.env, &["images", &t.reg.reference("demo/nothing")]);
    assert_eq!(out.lines().count(), 1, "{out}");
}

/// `--filter dangling=true` lists only the untagged `<none>` image; `dangling=false` only
/// named ones.
#[test]
fn images_filter_dangling() {
    let t = two();
    make_v1_dangling(&t);
    let out = ok(&t.env, &["images", "--filter", "dangling=true"]);
    let rows = table(&out);
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[1][0], "<none>");
    assert_eq!(rows[1][1], "<none>");
    assert_eq!(rows[1][2], short(&t.fx.app_v1.config_digest));

    let out = ok(&t.env, &["images", "--filter", "dangling=false"]);
    let rows = table(&out);
    assert_eq!(rows.len(), 3, "{out}");
    for r in &rows[1..] {
        assert_eq!(r[0], t.reg.reference("demo/app"), "{out}");
        assert_eq!(r[2], short(&t.fx.app_v2.config_digest), "{out}");
    }
    // Without a filter both kinds are listed.
    assert_eq!(table(&ok(&t.env, &["images"])).len(), 4);
}

/// `--filter reference=PATTERN` globs with `*` matching within one path segment.
#[test]
fn images_filter_reference_globs_within_segments() {
    let t = two();
    let nested = t.reg.reference("demo/tools/app:1.0");
    let top = t.reg.reference("other:1.0");
    ok(&t.env, &["tag", &t.r1, &nested]);
    ok(&t.env, &["tag", &t.r1, &top]);
    let names = |pattern: &str| -> BTreeSet<String> {
        ok(
            &t.env,
            &[
                "images",
                "--filter",
                &format!("reference={pattern}"),
                "--format",
                "{{.Repository}}:{{.Tag}}",
            ],
        )
        .lines()
        .map(String::from)
        .collect()
    };
    let host = t.reg.host();
    assert_eq!(
        names(&format!("{host}/demo/*")),
        BTreeSet::from([t.r1.clone(), t.r2.clone()]),
        "* does not cross a /"
    );
    assert_eq!(
        names(&format!("{host}/demo/*/app")),
        BTreeSet::from([nested.clone()])
    );
    assert_eq!(
        names("*/demo/app:1.*"),
        BTreeSet::from([t.r1.clone()]),
        "* matches the registry host segment; tags glob too"
    );
    assert_eq!(names(&format!("{host}/*")), BTreeSet::from([top.clone()]));
    assert!(names(&format!("{host}/nothing*")).is_empty());
}

/// `--format '{{.Repository}}:{{.Tag}}'` prints one line per name and no header.
#[test]
fn images_format_template() {
    let t = two();
    let out = ok(&t.env, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, vec![t.r1.as_str(), t.r2.as_str()]);
}

/// `--format json` prints one JSON object per line with docker's keys.
#[test]
fn images_format_json_uses_docker_keys() {
    let t = two();
    let out = ok(&t.env, &["images", "--format", "json"]);
    let objs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert_eq!(objs.len(), 2, "{out}");
    let docker_keys: BTreeSet<&str> = [
        "Containers",
        "CreatedAt",
        "CreatedSince",
        "Digest",
        "ID",
        "Repository",
        "SharedSize",
        "Size",
        "Tag",
        "UniqueSize",
        "VirtualSize",
    ]
    .into();
    for o in &objs {
        let keys: BTreeSet<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, docker_keys, "{o}");
    }
    let v1 = objs.iter().find(|o| o["Tag"] == "1.0").expect("1.0 object");
    assert_eq!(v1["Repository"], t.reg.reference("demo/app").as_str());
    assert_eq!(v1["ID"], short(&t.fx.app_v1.config_digest).as_str());
    assert_eq!(v1["Digest"], t.d1.as_str());
    assert_eq!(v1["Size"], si(t.fx.app_v1.total_size()).as_str());
    assert_eq!(v1["CreatedAt"], "2024-01-01 00:00:00 +0000 UTC");
}

/// `--format 'table {{.ID}}\t{{.Tag}}'` prints an aligned table with a header row.
#[test]
fn images_format_table_has_header() {
    let t = two();
    let out = ok(&t.env, &["images", "--format", "table {{.ID}}\\t{{.Tag}}"]);
    let rows = table(&out);
    assert_eq!(rows.len(), 3, "{out}");
    assert_eq!(rows[0], ["IMAGE ID", "TAG"]);
    let mut body: Vec<Vec<String>> = rows[1..].to_vec();
    body.sort_by(|a, b| a[1].cmp(&b[1]));
    assert_eq!(
        body,
        vec![
            vec![short(&t.fx.app_v1.config_digest), "1.0".to_string()],
            vec![short(&t.fx.app_v2.config_digest), "2.0".to_string()],
        ]
    );
    let lines: Vec<&str> = out.lines().collect();
    for line in &lines[1..] {
        assert_eq!(
            line.rfind(' ').map(|i| i + 1),
            lines[0].find("TAG"),
            "TAG column aligned: {out}"
        );
    }
}

/// An unknown filter, a bad filter value and a template that does not parse each fail with
/// exit 1 and a one-line `error:` message naming the problem.
#[test]
fn images_bad_filter_or_template_is_a_one_line_error() {
    let t = two();
    let line = fails_with_one_line(&run(&t.env, &["images", "--filter", "color=red"]), "filter");
    assert!(line.contains("color"), "{line}");
    let line = fails_with_one_line(
        &run(&t.env, &["images", "--filter", "dangling=maybe"]),
        "dangling",
    );
    assert!(line.contains("dangling"), "{line}");
    let line = fails_with_one_line(&run(&t.env, &["images", "--filter", "novalue"]), "kv");
    assert!(line.contains("novalue"), "{line}");
    let line = fails_with_one_line(
        &run(&t.env, &["images", "--format", "{{.Repository"]),
        "template",
    );
    assert!(line.contains("template"), "{line}");
}
