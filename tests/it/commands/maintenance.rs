//! `df`, `prune`, `fsck`, completions, and concurrent writers on one store.

use super::*;

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
            si(StoreProbe::new(&t.env.store).blob_bytes()),
            "0B (0%)".to_string()
        ]
    );
    // A dangling image is counted as inactive and its unique bytes as reclaimable.
    make_v1_dangling(&t);
    let rows = table(&ok(&t.env, &["df"]));
    let v1 = &t.fx.app_v1;
    let unique = v1.manifest_size + v1.config_size + v1.layers[1].size;
    let total = StoreProbe::new(&t.env.store).blob_bytes();
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
    assert_eq!(
        v["TotalSize"],
        json!(StoreProbe::new(&t.env.store).blob_bytes())
    );
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
    let blobs = StoreProbe::new(&t.env.store).blob_digests();

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
    assert_eq!(StoreProbe::new(&t.env.store).blob_digests(), blobs);
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
    assert_eq!(StoreProbe::new(&t.env.store).blob_digests(), blobs);
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
        assert!(!StoreProbe::new(s).has_blob(d), "{d} still there");
    }
    assert!(!tmp.exists(), "tmp leftover still there");
    assert!(
        StoreProbe::new(s).has_blob(&v1.layers[0].digest),
        "shared base removed"
    );
    for (d, _) in t.fx.app_v2.blobs() {
        assert!(StoreProbe::new(s).has_blob(&d), "{d} removed");
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
    assert_eq!(
        StoreProbe::new(&t.env.store).blob_digests(),
        BTreeSet::new()
    );
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
    // Generous: the command's start on a loaded machine; the wait ends as soon as it speaks.
    let deadline = Instant::now() + Duration::from_secs(30);
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

/// A closed pipe ends the command quietly, as Unix tools do (no panic, no error line).
#[test]
fn closed_pipe_is_not_a_panic() {
    let env = TestEnv::new();
    let mut child = std::process::Command::new(imagectl_bin())
        .args(["completions", "bash"])
        .env("HOME", &env.home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "{err}");
}

/// `imagectl images | head -0`: a reader that went away ends imagectl as SIGPIPE ends any
/// Unix tool, without a panic message.
#[test]
fn closed_stdout_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let env = crate::support::TestEnv::new();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(crate::support::cli::imagectl_bin())
        .arg("--store")
        .arg(&env.store)
        .arg("images")
        .env("HOME", &env.home)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(13), "{:?} {stderr}", out.status);
}
