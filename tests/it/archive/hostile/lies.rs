//! Archives whose metadata lies (sizes, digests, diff IDs, duplicates) or is missing or
//! malformed.

use super::*;

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
