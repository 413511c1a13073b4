//! The everyday commands on a store filled by pull: images, tag, rmi, inspect, history, df, prune, fsck, completions.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::cli::{imagectl_bin, store_index, store_refs};
use crate::support::fixtures::{MediaFormat, Standard, base_layer, hex_of, sha256_digest};
use crate::support::{Registry, TestEnv};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `imagectl ARGS` in `env` and returns its output, whatever the exit code.
fn run(env: &TestEnv, args: &[&str]) -> Output {
    env.imagectl().args(args).output().unwrap()
}

/// Runs `imagectl ARGS` in `env`, asserts success and returns stdout.
fn ok(env: &TestEnv, args: &[&str]) -> String {
    let out = run(env, args);
    assert!(
        out.status.success(),
        "imagectl {args:?} failed ({:?}): {}{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Asserts a command failed with exit code 1 and one `error:` line on stderr; returns it.
fn fails_with_one_line(out: &Output, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: expected exit 1; stdout {} stderr {}",
        stdout(out),
        stderr(out)
    );
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: one line on stderr: {err:?}");
    assert!(lines[0].starts_with("error: "), "{what}: {err:?}");
    lines[0].to_string()
}

/// Sizes as docker prints them (`units.HumanSize`: SI units, three significant digits).
fn si(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[u])
}

/// An aligned table (columns separated by 3+ spaces) as rows of trimmed cells.
fn table(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

/// Names of the files in `STORE/blobs/sha256`.
fn blob_files(store: &Path) -> BTreeSet<String> {
    match fs::read_dir(store.join("blobs/sha256")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// Sum of the file sizes in `STORE/blobs/sha256`.
fn blob_bytes(store: &Path) -> u64 {
    fs::read_dir(store.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn blob_path(store: &Path, digest: &str) -> PathBuf {
    store.join("blobs/sha256").join(hex_of(digest))
}

fn has_blob(store: &Path, digest: &str) -> bool {
    blob_path(store, digest).exists()
}

/// The 12-hex short image ID of a config digest.
fn short(digest: &str) -> String {
    hex_of(digest)[..12].to_string()
}

/// Runs `imagectl fsck` and asserts the store is sound.
fn assert_fsck_clean(env: &TestEnv) {
    let out = ok(env, &["fsck"]);
    assert!(out.contains("no problems"), "{out}");
}

/// A registry with `demo/app:1.0` (app-v1) and `demo/app:2.0` (app-v2, sharing the base
/// layer), both pulled into a fresh store.
struct Two {
    reg: Registry,
    fx: Standard,
    env: TestEnv,
    /// `127.0.0.1:PORT/demo/app:1.0`.
    r1: String,
    /// `127.0.0.1:PORT/demo/app:2.0`.
    r2: String,
    /// Manifest digests the registry serves for them.
    d1: String,
    d2: String,
}

fn two() -> Two {
    let reg = Registry::start();
    let fx = Standard::new();
    let d1 = fx.push(&reg, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    let d2 = fx.push(&reg, "app-v2", "demo/app:2.0", MediaFormat::Oci, false);
    // The stored manifests are the fixture's bytes, so the fixture's sizes are the store's.
    assert_eq!(d1, fx.app_v1.manifest_digest);
    assert_eq!(d2, fx.app_v2.manifest_digest);
    let env = TestEnv::new();
    let r1 = reg.reference("demo/app:1.0");
    let r2 = reg.reference("demo/app:2.0");
    ok(&env, &["pull", "-q", &r1, &r2]);
    Two {
        reg,
        fx,
        env,
        r1,
        r2,
        d1,
        d2,
    }
}

/// Makes app-v1 a dangling image: `demo/app:1.0` is re-pushed as app-v2 and pulled again.
fn make_v1_dangling(t: &Two) {
    t.fx.push(&t.reg, "app-v2", "demo/app:1.0", MediaFormat::Oci, false);
    ok(&t.env, &["pull", "-q", &t.r1]);
}

/// Writes `data` into `STORE/blobs/sha256/<its sha256>` (a blob no image references).
fn drop_blob(store: &Path, data: &[u8]) -> String {
    let digest = sha256_digest(data);
    fs::write(blob_path(store, &digest), data).unwrap();
    digest
}

/// `imagectl --store STORE` as a plain std command with an empty environment (besides
/// PATH, HOME and NO_COLOR), for processes that run in the background.
fn background(env: &TestEnv, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(imagectl_bin());
    cmd.env_clear()
        .env("HOME", &env.home)
        .env("NO_COLOR", "1")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("--store")
        .arg(&env.store)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// Waits up to `limit` for `child` to exit.
fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

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
    let blobs = blob_files(&t.env.store);
    let out = ok(&t.env, &["rmi", &extra]);
    assert_eq!(out, format!("Untagged: {extra}\n"));
    assert_eq!(blob_files(&t.env.store), blobs);
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
    assert!(!has_blob(s, &t.fx.app_v1.manifest_digest), "manifest left");
    assert!(!has_blob(s, &t.fx.app_v1.config_digest), "config left");
    assert!(
        !has_blob(s, &t.fx.app_v1.layers[1].digest),
        "app layer left"
    );
    assert!(
        has_blob(s, &t.fx.app_v1.layers[0].digest),
        "shared base gone"
    );
    for (d, _) in t.fx.app_v2.blobs() {
        assert!(has_blob(s, &d), "app-v2 blob {d} gone");
    }
    assert!(has_blob(s, &t.fx.app_v2.manifest_digest));
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
    let blobs = blob_files(&t.env.store);
    let id = short(&t.fx.app_v1.config_digest);

    let out = run(&t.env, &["rmi", &id]);
    let line = fails_with_one_line(&out, "rmi ID");
    assert!(
        line.contains(&t.r1) && line.contains(&extra),
        "names both: {line}"
    );
    assert_eq!(stdout(&out), "");
    assert_eq!(fs::read(t.env.store.join("index.json")).unwrap(), before);
    assert_eq!(blob_files(&t.env.store), blobs);

    let out = ok(&t.env, &["rmi", "-f", &id]);
    for name in [&t.r1, &extra] {
        assert!(out.contains(&format!("Untagged: {name}\n")), "{out}");
    }
    assert!(
        out.contains(&format!("Deleted: {}\n", t.fx.app_v1.config_digest)),
        "{out}"
    );
    assert_eq!(store_refs(&t.env.store), vec![t.r2.clone()]);
    assert!(!has_blob(&t.env.store, &t.fx.app_v1.config_digest));
    assert!(has_blob(&t.env.store, &t.fx.app_v1.layers[0].digest));
    assert_fsck_clean(&t.env);
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
    assert!(!has_blob(&t.env.store, &t.fx.app_v1.config_digest));
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
        has_blob(&t.env.store, &amd.config_digest) || has_blob(&t.env.store, &t.fx.multi.digest)
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

// ---------------------------------------------------------------------------------------
// df
// ---------------------------------------------------------------------------------------

/// `df` prints one summary row: Images, total, active, size of all blobs, reclaimable.
#[test]
fn df_summary_row() {
    let t = two();
    let out = ok(&t.env, &["df"]);
    let rows = table(&out);
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0], ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]);
    assert_eq!(
        rows[1],
        [
            "Images".to_string(),
            "2".to_string(),
            "2".to_string(),
            si(blob_bytes(&t.env.store)),
            "0B (0%)".to_string()
        ]
    );
    // A dangling image is counted as inactive and its unique bytes as reclaimable.
    make_v1_dangling(&t);
    let rows = table(&ok(&t.env, &["df"]));
    let v1 = &t.fx.app_v1;
    let unique = v1.manifest_size + v1.config_size + v1.layers[1].size;
    let total = blob_bytes(&t.env.store);
    assert_eq!(rows[1][1], "2");
    assert_eq!(rows[1][2], "1");
    assert_eq!(rows[1][3], si(total));
    assert_eq!(
        rows[1][4],
        format!("{} ({}%)", si(unique), unique * 100 / total)
    );
}

/// `df -v` lists each image with its size, the shared base layer as SHARED SIZE and the
/// rest as UNIQUE SIZE.
#[test]
fn df_verbose_shared_and_unique() {
    let t = two();
    let out = ok(&t.env, &["df", "-v"]);
    let rows = table(&out);
    let header = rows
        .iter()
        .position(|r| r.first().map(String::as_str) == Some("REPOSITORY"))
        .unwrap_or_else(|| panic!("no per-image table: {out}"));
    assert_eq!(
        rows[header],
        [
            "REPOSITORY",
            "TAG",
            "IMAGE ID",
            "CREATED",
            "SIZE",
            "SHARED SIZE",
            "UNIQUE SIZE"
        ]
    );
    let base = base_layer().size;
    for (tag, img) in [("1.0", &t.fx.app_v1), ("2.0", &t.fx.app_v2)] {
        let row = rows[header + 1..]
            .iter()
            .find(|r| r.len() == 7 && r[1] == tag)
            .unwrap_or_else(|| panic!("no row for {tag}: {out}"));
        assert_eq!(row[0], t.reg.reference("demo/app"));
        assert_eq!(row[2], short(&img.config_digest));
        assert_eq!(row[4], si(img.total_size()), "{out}");
        assert_eq!(row[5], si(base), "SHARED SIZE is the base layer: {out}");
        assert_eq!(row[6], si(img.total_size() - base), "{out}");
    }
}

/// `df --format json` reports TotalSize equal to the bytes of every file in blobs/sha256,
/// and per image the base layer as shared.
#[test]
fn df_json_total_is_the_blob_files() {
    let t = two();
    let stray = drop_blob(&t.env.store, b"a blob no image uses\n");
    let v: Value = serde_json::from_str(&ok(&t.env, &["df", "--format", "json"])).unwrap();
    assert_eq!(v["TotalSize"], json!(blob_bytes(&t.env.store)));
    assert_eq!(v["Images"], 2);
    assert_eq!(v["Active"], 2);
    let stray_size = fs::metadata(blob_path(&t.env.store, &stray)).unwrap().len();
    assert_eq!(v["Unreferenced"], json!(stray_size));
    assert_eq!(v["Reclaimable"], json!(stray_size));
    let per = v["PerImage"].as_array().expect("PerImage");
    assert_eq!(per.len(), 2);
    for p in per {
        assert_eq!(p["SharedSize"], json!(base_layer().size), "{p}");
    }
}

// ---------------------------------------------------------------------------------------
// prune
// ---------------------------------------------------------------------------------------

/// `prune` without `-f` and no answer on stdin exits 1 and removes nothing.
#[test]
fn prune_without_force_and_no_answer_removes_nothing() {
    let t = two();
    make_v1_dangling(&t);
    drop_blob(&t.env.store, b"unreferenced\n");
    let tmp = t.env.store.join(".imagectl/tmp/blob-leftover");
    fs::write(&tmp, b"partial").unwrap();
    let index = fs::read(t.env.store.join("index.json")).unwrap();
    let blobs = blob_files(&t.env.store);

    let out = t
        .env
        .imagectl()
        .args(["prune"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("error: "), "{}", stderr(&out));
    assert!(
        !stdout(&out).contains("Total reclaimed space"),
        "{}",
        stdout(&out)
    );
    assert_eq!(fs::read(t.env.store.join("index.json")).unwrap(), index);
    assert_eq!(blob_files(&t.env.store), blobs);
    assert!(tmp.exists());

    // "n" is no as well.
    let out = t
        .env
        .imagectl()
        .args(["prune", "-a"])
        .write_stdin("n\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(blob_files(&t.env.store), blobs);
}

/// `prune -f` removes the dangling image, the blobs only it used, a stray blob and
/// temporary leftovers, keeps everything named, and reports the bytes reclaimed.
#[test]
fn prune_force_removes_dangling_unreferenced_and_leftovers() {
    let t = two();
    make_v1_dangling(&t);
    let s = &t.env.store;
    let stray = drop_blob(s, &crate::support::fixtures::pseudo_random(3000, 7));
    let tmp = s.join(".imagectl/tmp/blob-leftover");
    fs::write(&tmp, vec![0u8; 1234]).unwrap();
    let v1 = &t.fx.app_v1;
    let doomed = [
        v1.manifest_digest.clone(),
        v1.config_digest.clone(),
        v1.layers[1].digest.clone(),
        stray.clone(),
    ];
    let mut expected: u64 = doomed
        .iter()
        .map(|d| fs::metadata(blob_path(s, d)).unwrap().len())
        .sum();
    expected += 1234;

    let out = ok(&t.env, &["prune", "-f"]);
    assert!(
        out.contains(&format!("deleted: {}", v1.config_digest)),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l == format!("Total reclaimed space: {}", si(expected))),
        "expected {} reclaimed: {out}",
        si(expected)
    );
    for d in &doomed {
        assert!(!has_blob(s, d), "{d} still there");
    }
    assert!(!tmp.exists(), "tmp leftover still there");
    assert!(has_blob(s, &v1.layers[0].digest), "shared base removed");
    for (d, _) in t.fx.app_v2.blobs() {
        assert!(has_blob(s, &d), "{d} removed");
    }
    let mut refs = store_refs(s);
    refs.sort();
    assert_eq!(refs, vec![t.r1.clone(), t.r2.clone()]);
    assert_eq!(store_index(s)["manifests"].as_array().unwrap().len(), 2);
    assert!(ok(&t.env, &["images", "-f", "dangling=true", "-q"]).is_empty());
    assert_fsck_clean(&t.env);

    // Nothing left to prune.
    let out = ok(&t.env, &["prune", "-f"]);
    assert!(out.contains("Total reclaimed space: 0B"), "{out}");
}

/// `prune -a -f` removes every image and every blob; fsck is clean afterwards.
#[test]
fn prune_all_empties_the_store() {
    let t = two();
    let out = ok(&t.env, &["prune", "-a", "-f"]);
    for id in [&t.fx.app_v1.config_digest, &t.fx.app_v2.config_digest] {
        assert!(out.contains(&format!("deleted: {id}")), "{out}");
    }
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert!(
        store_index(&t.env.store)["manifests"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(blob_files(&t.env.store), BTreeSet::new());
    assert_eq!(ok(&t.env, &["images", "-q"]), "");
    assert_fsck_clean(&t.env);
    // The store is still a layout other tools read.
    assert!(t.env.store.join("oci-layout").exists());
}

// ---------------------------------------------------------------------------------------
// fsck
// ---------------------------------------------------------------------------------------

/// `fsck` of a sound store exits 0 and says `no problems`.
#[test]
fn fsck_clean_store() {
    let t = two();
    let out = ok(&t.env, &["fsck"]);
    assert!(out.contains("no problems"), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
}

/// A flipped byte in a layer blob makes `fsck` exit 1 with a line naming that blob.
#[test]
fn fsck_finds_a_corrupt_layer() {
    let t = two();
    let layer = &t.fx.app_v1.layers[1].digest;
    let path = blob_path(&t.env.store, layer);
    let mut bytes = fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(&path, &bytes).unwrap();

    let out = run(&t.env, &["fsck"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report = stdout(&out);
    let problems: Vec<&str> = report.lines().filter(|l| l.contains(layer)).collect();
    assert_eq!(problems.len(), 1, "one line names the blob: {report}");
    assert!(
        !report.contains(&t.fx.app_v1.layers[0].digest),
        "only the damaged blob is named: {report}"
    );
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    assert!(!report.contains("no problems"), "{report}");
}

/// A deleted layer blob makes `fsck` exit 1 with a line naming the image and the layer.
#[test]
fn fsck_finds_a_missing_layer() {
    let t = two();
    let layer = &t.fx.app_v2.layers[1].digest;
    fs::remove_file(blob_path(&t.env.store, layer)).unwrap();
    let out = run(&t.env, &["fsck"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report = stdout(&out);
    assert!(
        report
            .lines()
            .any(|l| l.contains(&t.r2) && l.contains(layer) && l.contains("missing")),
        "{report}"
    );
    assert!(
        !report.lines().any(|l| l.contains(&t.r1)),
        "app-v1 is intact: {report}"
    );
}

// ---------------------------------------------------------------------------------------
// completions
// ---------------------------------------------------------------------------------------

/// `completions bash` prints a bash completion script for imagectl.
#[test]
fn completions_bash() {
    let env = TestEnv::new();
    let out = ok(&env, &["completions", "bash"]);
    assert!(out.contains("imagectl"), "{out}");
    assert!(out.contains("complete "), "{out}");
    for sub in ["pull", "images", "rmi", "prune", "fsck"] {
        assert!(out.contains(sub), "{sub} missing");
    }
    // Printing completions touches no store.
    assert!(!env.store.exists());
}

// ---------------------------------------------------------------------------------------
// concurrency
// ---------------------------------------------------------------------------------------

/// Two `pull` processes of different images started together into one store both succeed
/// and the store names both images.
#[test]
fn concurrent_pulls_into_one_store() {
    let reg = Registry::start();
    let fx = Standard::new();
    fx.push(&reg, "app-v1", "demo/app:1.0", MediaFormat::Oci, false);
    fx.push(&reg, "app-v2", "demo/other:2.0", MediaFormat::Oci, false);
    let env = TestEnv::new();
    let r1 = reg.reference("demo/app:1.0");
    let r2 = reg.reference("demo/other:2.0");
    let spawn = |r: &str| {
        background(&env, &["pull", "-q", r])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn(&r1);
    let b = spawn(&r2);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "pull {r1}: {}", stderr(&a));
    assert!(b.status.success(), "pull {r2}: {}", stderr(&b));
    let mut refs = store_refs(&env.store);
    refs.sort();
    assert_eq!(refs, vec![r1.clone(), r2.clone()]);
    assert_fsck_clean(&env);
    let ids = ok(&env, &["images", "-q", "--no-trunc"]);
    let ids: BTreeSet<&str> = ids.lines().collect();
    assert_eq!(
        ids,
        BTreeSet::from([
            fx.app_v1.config_digest.as_str(),
            fx.app_v2.config_digest.as_str()
        ])
    );
}

/// An `rmi` that finds the store locked exclusively says it is waiting, waits, and
/// completes once the lock is released.
#[test]
fn rmi_waits_for_the_exclusive_lock() {
    let t = two();
    let lock_path = t.env.store.join(".imagectl/lock");
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .unwrap();
    lock.lock().unwrap();

    let err_path = t.env.root.path().join("rmi.stderr");
    let out_path = t.env.root.path().join("rmi.stdout");
    let mut child = background(&t.env, &["rmi", &t.r1])
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();

    std::thread::sleep(Duration::from_millis(500));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(&err_path)
        .unwrap()
        .contains("waiting for another imagectl")
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.try_wait().unwrap();
    let err = fs::read_to_string(&err_path).unwrap();
    if status.is_some() {
        panic!("rmi did not wait for the lock: {status:?} {err}");
    }
    assert!(err.contains("waiting for another imagectl"), "{err:?}");
    assert!(
        store_refs(&t.env.store).contains(&t.r1),
        "nothing removed while waiting"
    );

    lock.unlock().unwrap();
    drop(lock);
    let status = wait_timeout(&mut child, Duration::from_secs(30));
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("rmi still running 30s after the lock was released");
    };
    assert!(
        status.success(),
        "{}",
        fs::read_to_string(&err_path).unwrap()
    );
    let out = fs::read_to_string(&out_path).unwrap();
    assert!(out.contains(&format!("Untagged: {}", t.r1)), "{out}");
    assert!(
        out.contains(&format!("Deleted: {}", t.fx.app_v1.config_digest)),
        "{out}"
    );
    assert_eq!(store_refs(&t.env.store), vec![t.r2.clone()]);
    assert_fsck_clean(&t.env);
}
