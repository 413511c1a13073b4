//! Hostile archives: each is refused with exit 1 and one `error:` line naming the problem,
//! nothing is written outside the store, and the store is byte-for-byte as before (its
//! `.imagectl/tmp` aside). Each runs through `load -i FILE` and through stdin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::json;

use super::craft::{self, Entry};
use crate::errors::fingerprint;
use crate::support::fixtures::{self, FixtureImage, MediaFormat, app_image, hex_of};
use crate::support::{Registry, TestEnv};

/// A store holding one pulled image, made once per test binary run below cargo's per-target
/// temp dir (statics are never dropped: `cargo clean` removes it); each test copies it.
fn template_store() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let reg = Registry::start();
        let image = app_image("1.0", MediaFormat::Oci);
        fixtures::push_image_http(&reg, "demo/app", "1.0", &image);
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("archive-templates");
        std::fs::create_dir_all(&base).unwrap();
        let dir = tempfile::Builder::new()
            .prefix("store-")
            .tempdir_in(base)
            .unwrap()
            .keep();
        let store = dir.join("store");
        crate::support::imagectl(&store)
            .args(["pull", "-q", &reg.reference("demo/app:1.0")])
            .assert()
            .success();
        store
    })
}

/// A fresh env whose store is a copy of the template.
fn populated() -> TestEnv {
    let env = TestEnv::new();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(template_store())
        .arg(&env.store)
        .status()
        .unwrap();
    assert!(status.success());
    env
}

/// The image every hostile archive pretends to carry (its base layer is in the store).
fn image() -> FixtureImage {
    app_image("6.6.6", MediaFormat::Oci)
}

/// Everything under `root` except what lives in the store's `.imagectl/tmp` (which
/// [`refused`] checks holds no file afterwards).
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fingerprint(root)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("store/.imagectl/tmp"))
        .collect()
}

/// The one `error:` line of a failed command with exit status 1.
fn error_line(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: want exit 1, got {}: {}{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors.len(),
        1,
        "{what}: want one error line, got: {stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("Loaded image"),
        "{what}: claims to have loaded something"
    );
    errors[0].to_string()
}

/// Loads `archive` (named `file_name`) into a copy of the template store, by `-i` and by
/// stdin; asserts the refusal, that its error line contains one of `keywords` (any case),
/// and that nothing changed outside `.imagectl/tmp`. Returns the error line.
fn refused(file_name: &str, archive: &[u8], keywords: &[&str]) -> String {
    let env = populated();
    let inbox = env.root.path().join("in");
    std::fs::create_dir_all(&inbox).unwrap();
    let path = inbox.join(file_name);
    std::fs::write(&path, archive).unwrap();
    let before = snapshot(env.root.path());
    assert!(before.contains_key("store/index.json"));

    let mut line = String::new();
    for via_stdin in [false, true] {
        let what = format!("{file_name} via {}", if via_stdin { "stdin" } else { "-i" });
        let out = if via_stdin {
            env.imagectl()
                .arg("load")
                .write_stdin(archive.to_vec())
                .output()
                .unwrap()
        } else {
            env.imagectl()
                .args(["load", "-i", &path.display().to_string()])
                .output()
                .unwrap()
        };
        line = error_line(&out, &what);
        let lower = line.to_lowercase();
        assert!(
            keywords.is_empty() || keywords.iter().any(|k| lower.contains(&k.to_lowercase())),
            "{what}: error line names none of {keywords:?}: {line}"
        );
        let after = snapshot(env.root.path());
        assert_eq!(after, before, "{what}: something changed");
        let staged: Vec<String> = fingerprint(&env.store.join(".imagectl/tmp"))
            .into_keys()
            .filter(|k| !k.ends_with('/'))
            .collect();
        assert!(staged.is_empty(), "{what}: staged files left: {staged:?}");
    }
    line
}

fn docker_tar(entries: &[Entry]) -> Vec<u8> {
    craft::tar(entries)
}

fn manifest(config: &str, tags: &[&str], layers: &[&str]) -> Entry {
    Entry::file(
        "manifest.json",
        serde_json::to_vec(&json!([{ "Config": config, "RepoTags": tags, "Layers": layers }]))
            .unwrap(),
    )
}

fn config_name(img: &FixtureImage) -> String {
    format!("{}.json", hex_of(&img.config_digest))
}

fn layer_tar(img: &FixtureImage, i: usize) -> Vec<u8> {
    craft::gunzip(&img.layers[i].blob)
}

/// The crafted archives are sound: unmodified, both formats load with the expected ID.
/// (Every hostile case below differs from these in one respect.)
#[test]
fn crafted_archives_load() {
    let img = image();
    for (file, bytes) in [
        (
            "docker.tar",
            craft::tar(&craft::docker_archive(&img, &["demo/hostile:1"])),
        ),
        (
            "oci.tar",
            craft::tar(&craft::oci_archive(&img, "demo/hostile:1")),
        ),
    ] {
        let env = populated();
        let out = env
            .imagectl()
            .arg("load")
            .write_stdin(bytes)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("Loaded image: demo/hostile:1"),
            "{file}: {stdout}"
        );
        let id = env
            .imagectl()
            .args(["inspect", "-f", "{{.Id}}", "demo/hostile:1"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&id.stdout).trim(),
            img.config_digest,
            "{file}"
        );
    }
}

/// A layer path with `..` that climbs out of any extraction dir is refused; no `x` appears
/// above the store.
#[test]
fn path_traversal() {
    let img = image();
    let evil = "../../../../../../x/layer.tar";
    let entries = vec![
        Entry::file(&config_name(&img), img.config.clone()),
        Entry::file(evil, layer_tar(&img, 0)),
        Entry::file("l1/layer.tar", layer_tar(&img, 1)),
        manifest(
            &config_name(&img),
            &["demo/hostile:1"],
            &[evil, "l1/layer.tar"],
        ),
    ];
    let line = refused("traversal.tar", &docker_tar(&entries), &["unsafe entry"]);
    assert!(line.contains("`..`") && line.contains(evil), "{line}");
}

/// An absolute entry name is refused; the file it names is not created.
#[test]
fn absolute_path() {
    let img = image();
    let target = format!("/tmp/imagectl-it-abs-{}.json", std::process::id());
    let entries = vec![
        Entry::file(&target, img.config.clone()),
        Entry::file("l0/layer.tar", layer_tar(&img, 0)),
        Entry::file("l1/layer.tar", layer_tar(&img, 1)),
        manifest(
            &target,
            &["demo/hostile:1"],
            &["l0/layer.tar", "l1/layer.tar"],
        ),
    ];
    let line = refused("absolute.tar", &docker_tar(&entries), &["unsafe entry"]);
    assert!(line.contains("absolute"), "{line}");
    assert!(!Path::new(&target).exists(), "{target} was written");
}

/// `manifest.json` as a symlink to a host file is refused, not followed.
#[test]
fn symlink_entry() {
    let img = image();
    let mut entries = craft::docker_archive(&img, &["demo/hostile:1"]);
    let i = craft::position(&entries, "manifest.json");
    entries[i] = Entry::symlink("manifest.json", "/etc/passwd");
    let line = refused("symlink.tar", &docker_tar(&entries), &["unsafe entry"]);
    assert!(line.contains("symbolic link"), "{line}");
}

/// A symlink pointing out of the archive (a directory above the store), then an entry
/// written through it: refused, and nothing lands above the store.
#[test]
fn symlink_escape() {
    let img = image();
    let mut entries = craft::docker_archive(&img, &["demo/hostile:1"]);
    entries.insert(0, Entry::symlink("esc", "../../../../../../../.."));
    entries.insert(1, Entry::file("esc/pwned", &b"escaped\n"[..]));
    // And the first layer itself a link to a host file.
    let layer0 = format!("{}/layer.tar", hex_of(&img.layers[0].diff_id));
    let i = craft::position(&entries, &layer0);
    entries[i] = Entry::symlink(&layer0, "../../../../../../../etc/hostname");
    let line = refused(
        "symlink-escape.tar",
        &docker_tar(&entries),
        &["unsafe entry"],
    );
    assert!(
        line.contains("symbolic link") && line.contains("esc"),
        "{line}"
    );
    assert!(!Path::new("/pwned").exists());
}

/// Layer links of the shape docker and skopeo write (`<id>/layer.tar -> ../<id2>/layer.tar`)
/// that loop or point at nothing are refused, without hanging.
#[test]
fn layer_symlink_loop_and_dangling() {
    let img = image();
    let a = "a".repeat(64);
    let b = "b".repeat(64);
    let layer1 = format!("{}/layer.tar", hex_of(&img.layers[1].diff_id));
    let cfg = config_name(&img);
    let looped = vec![
        Entry::file(&cfg, img.config.clone()),
        Entry::symlink(&format!("{a}/layer.tar"), &format!("../{b}/layer.tar")),
        Entry::symlink(&format!("{b}/layer.tar"), &format!("../{a}/layer.tar")),
        Entry::file(&layer1, layer_tar(&img, 1)),
        manifest(
            &cfg,
            &["demo/hostile:1"],
            &[&format!("{a}/layer.tar"), &layer1],
        ),
    ];
    refused("link-loop.tar", &craft::tar(&looped), &["missing"]);
    let dangling = vec![
        Entry::file(&cfg, img.config.clone()),
        Entry::symlink(&format!("{a}/layer.tar"), &format!("../{b}.tar")),
        Entry::file(&layer1, layer_tar(&img, 1)),
        manifest(
            &cfg,
            &["demo/hostile:1"],
            &[&format!("{a}/layer.tar"), &layer1],
        ),
    ];
    refused("link-dangling.tar", &craft::tar(&dangling), &["missing"]);
}

/// A layer that is a hardlink to a host file is refused.
#[test]
fn hardlink_entry() {
    let img = image();
    let mut entries = craft::docker_archive(&img, &["demo/hostile:1"]);
    let layer0 = format!("{}/layer.tar", hex_of(&img.layers[0].diff_id));
    let i = craft::position(&entries, &layer0);
    entries[i] = Entry::hardlink(&layer0, "/etc/passwd");
    let line = refused("hardlink.tar", &docker_tar(&entries), &["unsafe entry"]);
    assert!(line.contains("hard link"), "{line}");
}

/// A layer that is a character device (like /dev/zero, which never ends) is refused.
#[test]
fn device_node() {
    let img = image();
    let mut entries = craft::docker_archive(&img, &["demo/hostile:1"]);
    let layer0 = format!("{}/layer.tar", hex_of(&img.layers[0].diff_id));
    let i = craft::position(&entries, &layer0);
    entries[i] = Entry::char_device(&layer0, 1, 5);
    let line = refused("device.tar", &docker_tar(&entries), &["unsafe entry"]);
    assert!(line.contains("device"), "{line}");
}

/// A gzip'd archive whose `manifest.json` is 200 MB of zeros (a ratio near 1000:1) is refused
/// without holding it in memory: peak RSS stays far below its size.
#[test]
fn decompression_bomb() {
    use std::io::Write as _;
    const SIZE: u64 = 200 << 20;
    let mut h = tar::Header::new_ustar();
    h.set_path("manifest.json").unwrap();
    h.set_size(SIZE);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(h.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(SIZE >> 20) {
        gz.write_all(&zeros).unwrap();
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 2 << 20, "{}", bomb.len());
    let line = refused(
        "bomb.tar.gz",
        &bomb,
        &["allowed for a JSON document", "decompression bomb"],
    );
    assert!(line.contains("manifest.json"), "{line}");

    // Peak memory of one load (GNU time's %M, KiB).
    let env = populated();
    let path = env.root.path().join("bomb.tar.gz");
    std::fs::write(&path, &bomb).unwrap();
    let out = crate::support::tools::tool("/usr/bin/time")
        .args(["-f", "maxrss=%M"])
        .arg(crate::support::cli::imagectl_bin())
        .arg("--store")
        .arg(&env.store)
        .args(["load", "-i"])
        .arg(&path)
        .env("HOME", &env.home)
        .output()
        .expect("/usr/bin/time (Debian package time)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kib: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no maxrss: {stderr}"));
    assert!(
        kib < 100 * 1024,
        "peak RSS {kib} KiB while refusing a 200 MB manifest"
    );
}

/// A gzip'd archive whose layer inflates past 1 GiB of zeros (about 1000:1) is refused as a
/// decompression bomb, and its staged bytes do not stay in the store.
#[test]
fn decompression_bomb_in_a_layer() {
    use std::io::Write as _;
    const SIZE: u64 = (1 << 30) + (64 << 20);
    let mut entries = craft::docker_archive(&image(), &["demo/hostile:1"]);
    let manifest = entries.pop().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let head = craft::tar(&[manifest]);
    gz.write_all(&head[..head.len() - 1024]).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_path(format!("{}/layer.tar", "0".repeat(64))).unwrap();
    h.set_size(SIZE);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    gz.write_all(h.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(SIZE >> 20) {
        gz.write_all(&zeros).unwrap();
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 16 << 20, "{}", bomb.len());
    let line = refused("layer-bomb.tar.gz", &bomb, &["decompression bomb"]);
    assert!(line.contains("layer.tar"), "{line}");
}

/// An archive cut inside a tar header is refused.
#[test]
fn truncated_inside_a_header() {
    let img = image();
    let entries = craft::docker_archive(&img, &["demo/hostile:1"]);
    let bytes = craft::tar(&entries);
    let cut = craft::header_offset(&entries, 2) + 100;
    refused("cut-header.tar", &bytes[..cut], &["truncated"]);
}

/// An archive cut inside a layer's data is refused (a short read, not a short layer).
#[test]
fn truncated_inside_a_layer() {
    let img = image();
    let entries = craft::docker_archive(&img, &["demo/hostile:1"]);
    let bytes = craft::tar(&entries);
    let i = craft::position(
        &entries,
        &format!("{}/layer.tar", hex_of(&img.layers[0].diff_id)),
    );
    let cut = craft::header_offset(&entries, i) + 512 + entries[i].data.len() / 2;
    let line = refused("cut-layer.tar", &bytes[..cut], &["truncated"]);
    assert!(line.contains("layer.tar"), "names the entry: {line}");
}

/// A gzip'd archive missing the end of its gzip trailer (CRC and length) is refused: the
/// stream is checked to its end, not only to the tar's end-of-archive blocks.
#[test]
fn truncated_inside_the_gzip_trailer() {
    let img = image();
    let gz = craft::gzip(&craft::tar(&craft::docker_archive(
        &img,
        &["demo/hostile:1"],
    )));
    refused(
        "cut-trailer.tar.gz",
        &gz[..gz.len() - 3],
        &["truncated", "corrupt gzip"],
    );
}

/// xz and bzip2 archives (made by the real tools) cut short are refused as corrupt.
#[test]
fn truncated_xz_and_bzip2() {
    let img = image();
    let tar = craft::tar(&craft::docker_archive(&img, &["demo/hostile:1"]));
    for (tool, file, gist) in [
        ("xz", "cut.tar.xz", "corrupt xz"),
        ("bzip2", "cut.tar.bz2", "corrupt bzip2"),
    ] {
        let packed = craft::through(tool, &["-c"], &tar);
        refused(file, &packed[..packed.len() * 2 / 3], &["truncated", gist]);
    }
}

/// An OCI layer descriptor whose size differs from the blob (digest right) is refused.
#[test]
fn lying_size() {
    let mut img = image();
    let mut m: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
    let real = m["layers"][1]["size"].as_u64().unwrap();
    m["layers"][1]["size"] = json!(real + 1);
    img.manifest = serde_json::to_vec(&m).unwrap();
    img.manifest_digest = fixtures::sha256_digest(&img.manifest);
    img.manifest_size = img.manifest.len() as u64;
    let entries = craft::oci_archive(&img, "demo/hostile:1");
    let line = refused("lying-size.tar", &craft::tar(&entries), &["size is"]);
    assert!(line.contains(hex_of(&img.layers[1].digest)), "{line}");
}

/// An OCI blob whose content does not hash to its name is refused.
#[test]
fn lying_digest() {
    let img = image();
    let mut entries = craft::oci_archive(&img, "demo/hostile:1");
    let i = craft::position(
        &entries,
        &format!("blobs/sha256/{}", hex_of(&img.layers[1].digest)),
    );
    // Same length, one byte different: only the digest can tell.
    let last = entries[i].data.len() - 10;
    entries[i].data[last] ^= 0x55;
    let line = refused("lying-digest.tar", &craft::tar(&entries), &["digest is"]);
    assert!(line.contains(hex_of(&img.layers[1].digest)), "{line}");
}

/// A docker-archive layer whose sha256 is not the config's diff_id is refused.
#[test]
fn mismatched_diff_id() {
    let img = image();
    let other = app_image("7.7.7", MediaFormat::Oci);
    let mut entries = craft::docker_archive(&img, &["demo/hostile:1"]);
    let name = format!("{}/layer.tar", hex_of(&img.layers[1].diff_id));
    let i = craft::position(&entries, &name);
    entries[i].data = layer_tar(&other, 1);
    let line = refused("diff-id.tar", &craft::tar(&entries), &["diff_ids"]);
    assert!(line.contains(&img.layers[1].diff_id), "{line}");
}

/// Two `manifest.json` entries that disagree are refused (not last-one-wins).
#[test]
fn duplicate_manifest_entries() {
    let img = image();
    let other = app_image("7.7.7", MediaFormat::Oci);
    let mut entries = craft::docker_archive(&img, &["demo/hostile:1"]);
    let mut second = craft::docker_archive(&other, &["demo/hostile:1"]);
    second.retain(|e| e.name != format!("{}/", hex_of(&other.layers[0].diff_id)));
    second.retain(|e| e.name != format!("{}/layer.tar", hex_of(&other.layers[0].diff_id)));
    entries.extend(second);
    let line = refused(
        "duplicate-manifest.tar",
        &craft::tar(&entries),
        &["appears twice"],
    );
    assert!(line.contains("manifest.json"), "{line}");
}

/// An empty input (zero bytes) and a tar with no entries are refused.
#[test]
fn empty_archive() {
    refused("empty.tar", b"", &["empty"]);
    refused("no-entries.tar", &[0u8; 1024], &["empty"]);
}

/// Random bytes (not a tar, not gzip, not zstd) are refused.
#[test]
fn not_a_tar() {
    refused(
        "random.tar",
        &fixtures::pseudo_random(8192, 42),
        &["not an image archive"],
    );
    // A gzip stream of random bytes: compressed, but no tar inside.
    refused(
        "random.tar.gz",
        &craft::gzip(&fixtures::pseudo_random(8192, 43)),
        &["not an image archive"],
    );
}

/// An OCI index.json whose manifest blob is not in the archive is refused, and so is a
/// manifest whose layer blob is missing.
#[test]
fn oci_missing_blob() {
    let img = image();
    let mut entries = craft::oci_archive(&img, "demo/hostile:1");
    entries.remove(craft::position(
        &entries,
        &format!("blobs/sha256/{}", hex_of(&img.manifest_digest)),
    ));
    let line = refused(
        "missing-manifest.tar",
        &craft::tar(&entries),
        &["missing from the archive"],
    );
    assert!(line.contains(hex_of(&img.manifest_digest)), "{line}");

    let mut entries = craft::oci_archive(&img, "demo/hostile:1");
    entries.remove(craft::position(
        &entries,
        &format!("blobs/sha256/{}", hex_of(&img.layers[1].digest)),
    ));
    let line = refused(
        "missing-layer.tar",
        &craft::tar(&entries),
        &["missing from the archive"],
    );
    assert!(line.contains(hex_of(&img.layers[1].digest)), "{line}");
}

/// A docker-archive whose manifest names a config or a layer the archive does not hold is
/// refused.
#[test]
fn docker_missing_entry() {
    let img = image();
    let mut entries = craft::docker_archive(&img, &["demo/hostile:1"]);
    entries.remove(craft::position(&entries, &config_name(&img)));
    refused(
        "missing-config.tar",
        &craft::tar(&entries),
        &["missing from the archive"],
    );

    let mut entries = craft::docker_archive(&img, &["demo/hostile:1"]);
    entries.remove(craft::position(
        &entries,
        &format!("{}/layer.tar", hex_of(&img.layers[1].diff_id)),
    ));
    refused(
        "missing-layer.tar",
        &craft::tar(&entries),
        &["missing from the archive"],
    );
}

/// A manifest.json that is not JSON, and a config that is not an image config, are refused.
#[test]
fn malformed_metadata() {
    let img = image();
    let mut entries = craft::docker_archive(&img, &["demo/hostile:1"]);
    let i = craft::position(&entries, "manifest.json");
    entries[i].data = b"[{\"Config\": ".to_vec();
    refused(
        "bad-manifest.tar",
        &craft::tar(&entries),
        &["manifest.json"],
    );

    // The config's name still matches its digest, but it lists fewer diff_ids than layers.
    let mut cfg = img.config_json();
    cfg["rootfs"]["diff_ids"] = json!([img.layers[0].diff_id]);
    let cfg = serde_json::to_vec(&cfg).unwrap();
    let cfg_name = format!("{}.json", hex_of(&fixtures::sha256_digest(&cfg)));
    let mut entries = craft::docker_archive(&img, &["demo/hostile:1"]);
    let i = craft::position(&entries, &config_name(&img));
    entries[i] = Entry::file(&cfg_name, cfg);
    let l: Vec<String> = img
        .layers
        .iter()
        .map(|l| format!("{}/layer.tar", hex_of(&l.diff_id)))
        .collect();
    let i = craft::position(&entries, "manifest.json");
    entries[i] = manifest(&cfg_name, &["demo/hostile:1"], &[&l[0], &l[1]]);
    refused(
        "layer-count.tar",
        &craft::tar(&entries),
        &["rootfs.diff_ids lists"],
    );
}

/// No error line quotes the input: a secret given by mistake (a passwd-like file, plain or
/// gzip, a tar header or JSON documents carrying it) never reaches the terminal.
#[test]
fn errors_never_echo_the_input() {
    const SECRET: &str = "S3CRET-token-0123456789";
    let passwd = format!(
        "root:x:0:0:{SECRET}:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    )
    .repeat(20);
    // A tar header whose checksum is right but whose size field is not a number.
    let mut header = [0u8; 512];
    header[..SECRET.len()].copy_from_slice(SECRET.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[124..136].copy_from_slice(format!("{:.11}\0", SECRET).as_bytes());
    header[156] = b'0';
    header[257..265].copy_from_slice(b"ustar\x0000");
    header[148..156].fill(b' ');
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut bad_header = header.to_vec();
    bad_header.extend_from_slice(&[0u8; 1024]);

    let img = image();
    let mut wrong_manifest = craft::docker_archive(&img, &["demo/hostile:1"]);
    let i = craft::position(&wrong_manifest, "manifest.json");
    wrong_manifest[i].data = format!("[\"{SECRET}\"]").into_bytes();
    let wrong_index = craft::tar(&[
        Entry::file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        Entry::file(
            "index.json",
            format!(r#"{{"schemaVersion":2,"manifests":"{SECRET}"}}"#),
        ),
    ]);

    let cases: [(&str, Vec<u8>); 5] = [
        ("passwd", passwd.clone().into_bytes()),
        ("passwd.gz", craft::gzip(passwd.as_bytes())),
        ("header.tar", bad_header),
        ("manifest.tar", craft::tar(&wrong_manifest)),
        ("index.tar", wrong_index),
    ];
    for (name, bytes) in cases {
        let line = refused(name, &bytes, &[]);
        assert!(!line.contains("S3CRET"), "{name}: {line}");
        assert!(!line.contains("root:x"), "{name}: {line}");
    }
}
