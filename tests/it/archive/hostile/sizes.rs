//! Archives that are too big once inflated, or cut short anywhere.

use super::*;

/// A gzip'd tar of `head` (tar entries without the end marker) then an entry `path` of
/// `size` zero bytes (a whole number of MiB): a small file that inflates about 1000:1.
fn zeros_entry_gzipped(head: &[u8], path: &str, size: u64) -> Vec<u8> {
    use std::io::Write as _;
    let mut h = tar::Header::new_ustar();
    h.set_path(path).unwrap();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(head).unwrap();
    gz.write_all(h.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(size >> 20) {
        gz.write_all(&zeros).unwrap();
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap()
}

/// A gzip'd archive whose `manifest.json` is 200 MB of zeros (a ratio near 1000:1) is refused
/// without holding it in memory: peak RSS stays far below its size.
#[test]
fn decompression_bomb() {
    let bomb = zeros_entry_gzipped(&[], "manifest.json", 200 << 20);
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
    let mut entries = craft::docker_archive(&image(), &["demo/hostile:1"]);
    let manifest = entries.pop().unwrap();
    let head = craft::tar(&[manifest]);
    let layer = format!("{}/layer.tar", "0".repeat(64));
    let bomb = zeros_entry_gzipped(&head[..head.len() - 1024], &layer, (1 << 30) + (64 << 20));
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
