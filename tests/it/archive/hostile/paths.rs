//! Entries that point outside the archive or are not plain files: traversal, absolute
//! paths, symlinks (escaping, looping, dangling), hard links, device nodes.

use super::*;

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
