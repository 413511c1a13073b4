//! `save` as written: compression, the gzip-trailer sizes of `-o`, the diff_id check of the
//! parallel layer fill, and what a refused save leaves (nothing).

use std::io::Read as _;
use std::process::Stdio;

use super::{assert_fsck_clean, craft, id_of, ok, pulled, run_ok, std_imagectl, text};
use crate::support::cli::imagectl_bin;
use crate::support::docker::Dockerd;
use crate::support::fixtures::{self, ImageBuilder, Layer, MediaFormat, app_image};
use crate::support::{Registry, TestEnv};

/// gzip and zstd archives, chosen by `--compress` or by the `.tar.gz`/`.tar.zst` extension,
/// carry the right magic number and load back (docker reads the gzip one as well).
#[test]
fn compressed_archives() {
    let reg = Registry::start();
    let image = app_image("4.0", MediaFormat::Oci);
    let env = pulled(&reg, &[(&image, "demo/z:4.0")]);
    let name = reg.reference("demo/z:4.0");
    let work = tempfile::tempdir().unwrap();
    let gzip_magic: &[u8] = &[0x1f, 0x8b];
    let zstd_magic: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
    let xz_magic: &[u8] = b"\xfd7zXZ\0";
    let bzip2_magic: &[u8] = b"BZh";

    let cases: Vec<(&str, Vec<&str>, &[u8])> = vec![
        ("flag.tar", vec!["--compress", "gzip"], gzip_magic),
        ("flag-z.tar", vec!["--compress", "zstd"], zstd_magic),
        ("ext.tar.gz", vec![], gzip_magic),
        ("ext.tar.zst", vec![], zstd_magic),
        ("oci.tar.zst", vec!["--format", "oci"], zstd_magic),
        (
            "oci-gz.tar",
            vec!["--format", "oci", "--compress", "gzip"],
            gzip_magic,
        ),
        ("plain.tar.gz", vec!["--compress", "none"], b"" as &[u8]),
        ("ext.tar.xz", vec![], xz_magic),
        ("flag-bz.tar", vec!["--compress", "bzip2"], bzip2_magic),
    ];
    for (file, flags, magic) in cases {
        let path = work.path().join(file);
        let mut args = vec!["save"];
        args.extend(flags.iter().copied());
        let p = path.display().to_string();
        args.extend(["-o", &p, &name]);
        run_ok(&env, &args);
        let bytes = std::fs::read(&path).unwrap();
        if magic.is_empty() {
            assert!(
                !bytes.starts_with(gzip_magic) && !bytes.starts_with(zstd_magic),
                "{file}: --compress none wins over the extension"
            );
        } else {
            assert!(bytes.starts_with(magic), "{file}: {:02x?}", &bytes[..8]);
        }
        // A plain tar inside.
        let names: Vec<String> = craft::list(&bytes).into_iter().map(|e| e.0).collect();
        assert!(!names.is_empty(), "{file}");

        let fresh = TestEnv::new();
        let out = run_ok(&fresh, &["load", "-i", &p]);
        assert!(
            out.contains(&format!("Loaded image: {name}")),
            "{file}: {out}"
        );
        assert_eq!(id_of(&fresh, &name), image.config_digest, "{file}");
        // Through stdin as well: compression is detected from the bytes.
        let fresh = TestEnv::new();
        let out = fresh
            .imagectl()
            .arg("load")
            .write_stdin(bytes)
            .output()
            .unwrap();
        ok(&out, &format!("imagectl load < {file}"));
        assert_eq!(
            id_of(&fresh, &name),
            image.config_digest,
            "{file} via stdin"
        );
    }

    // Archives compressed by the xz and bzip2 tools themselves load too.
    let plain = std::fs::read(work.path().join("plain.tar.gz")).unwrap();
    for (tool, file) in [("xz", "tool.tar.xz"), ("bzip2", "tool.tar.bz2")] {
        let path = work.path().join(file);
        std::fs::write(&path, craft::through(tool, &["-c"], &plain)).unwrap();
        let fresh = TestEnv::new();
        run_ok(&fresh, &["load", "-i", &path.display().to_string()]);
        assert_eq!(id_of(&fresh, &name), image.config_digest, "{file}");
    }

    let d = Dockerd::start();
    let loaded = d.load(&work.path().join("ext.tar.gz"));
    assert!(
        loaded.contains(&format!("Loaded image: {name}")),
        "{loaded}"
    );
    assert_eq!(d.image_id(&name), image.config_digest);
}

/// Compressing an archive of incompressible layers (random data, like already-compressed
/// files) costs at most 1% in size, as `gzip -1` and zstd do.
#[test]
fn compression_does_not_inflate_incompressible_layers() {
    let reg = Registry::start();
    let image = ImageBuilder::new()
        .layer(Layer::random("data/random.bin", 4 << 20, 11))
        .build();
    let env = pulled(&reg, &[(&image, "demo/random:1")]);
    let name = reg.reference("demo/random:1");
    let work = tempfile::tempdir().unwrap();
    let size = |file: &str| {
        let p = work.path().join(file);
        run_ok(&env, &["save", "-o", &p.display().to_string(), &name]);
        std::fs::metadata(&p).unwrap().len()
    };
    let plain = size("plain.tar");
    for file in ["gz.tar.gz", "zst.tar.zst"] {
        let compressed = size(file);
        assert!(
            compressed * 100 <= plain * 101,
            "{file}: {compressed} bytes for a {plain}-byte tar (+{:.1}%)",
            (compressed as f64 / plain as f64 - 1.0) * 100.0
        );
    }
}

/// `save` to a terminal is refused (no tar bytes on a tty); `save` of an unknown image
/// writes nothing: no `-o` file is left and nothing reaches stdout.
#[test]
fn save_refuses_a_terminal_and_unknown_images() {
    let reg = Registry::start();
    let image = app_image("1.0", MediaFormat::Oci);
    let env = pulled(&reg, &[(&image, "demo/app:1.0")]);
    let name = reg.reference("demo/app:1.0");

    // script(1) gives the command a pseudo-terminal as stdin, stdout and stderr.
    let cmdline = format!(
        "{} --store {} save {}",
        imagectl_bin().display(),
        env.store.display(),
        name
    );
    let out = crate::support::tools::tool("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .env("HOME", &env.home)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux)");
    let tty = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{tty}");
    assert_eq!(
        tty.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{tty}"
    );
    assert!(
        tty.to_lowercase().contains("terminal") && tty.contains("-o"),
        "says why and what to do: {tty}"
    );
    assert!(!tty.contains("manifest.json") && tty.len() < 2000, "{tty}");

    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("out.tar");
    for args in [
        vec!["save", "-o", file.to_str().unwrap(), "nope:1"],
        vec!["save", "-o", file.to_str().unwrap(), &name, "nope:1"],
    ] {
        let out = env.imagectl().args(&args).output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("no such image") && err.contains("nope:1"),
            "{err}"
        );
        assert!(!file.exists(), "{args:?}: no archive left behind");
        assert_eq!(
            std::fs::read_dir(work.path()).unwrap().count(),
            0,
            "no temp file left"
        );
    }
    let out = env.run(&["save", "nope:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing on stdout");
}

/// `save -o` takes gzip layers' sizes from their trailers (no counting pass). A multi-member
/// gzip layer's trailer states only its last member's size: the write pass notices, the
/// file is written again with counted sizes, and the archive loads with the right ID.
#[test]
fn a_wrong_gzip_trailer_falls_back_to_counted_sizes() {
    let plain = Layer::random("data.bin", 300_000, 7);
    let tar = {
        let mut d = flate2::read::GzDecoder::new(&plain.blob[..]);
        let mut t = Vec::new();
        d.read_to_end(&mut t).unwrap();
        t
    };
    let member = |part: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, part).unwrap();
        gz.finish().unwrap()
    };
    let mut blob = member(&tar[..100_000]);
    blob.extend(member(&tar[100_000..]));
    let multi = Layer {
        digest: fixtures::sha256_digest(&blob),
        size: blob.len() as u64,
        blob,
        ..plain
    };
    let image = ImageBuilder::new()
        .layer(fixtures::base_layer())
        .layer(multi)
        .build();
    let reg = Registry::start();
    let src = pulled(&reg, &[(&image, "demo/multi:1")]);
    let r = reg.reference("demo/multi:1");
    let file = src.root.path().join("multi.tar");

    let out = std_imagectl(&src)
        .args(["-v", "save", "-o", file.to_str().unwrap(), &r])
        .output()
        .unwrap();
    ok(&out, "imagectl save -o");
    let log = text(&out.stderr);
    assert!(log.contains("gzip trailer size was wrong"), "{log}");
    let dst = TestEnv::new();
    run_ok(&dst, &["load", "-i", file.to_str().unwrap()]);
    assert_eq!(id_of(&dst, &r), image.config_digest);
    assert_fsck_clean(&dst);

    // A single-member layer's trailer is right: no second try.
    let v1 = app_image("1.0", MediaFormat::Oci);
    let src = pulled(&reg, &[(&v1, "demo/app:1.0")]);
    let r1 = reg.reference("demo/app:1.0");
    let file = src.root.path().join("app.tar");
    let out = std_imagectl(&src)
        .args(["-v", "save", "-o", file.to_str().unwrap(), &r1])
        .output()
        .unwrap();
    ok(&out, "imagectl save -o");
    assert!(
        !text(&out.stderr).contains("gzip trailer"),
        "{}",
        text(&out.stderr)
    );
    let dst = TestEnv::new();
    run_ok(&dst, &["load", "-i", file.to_str().unwrap()]);
    assert_eq!(id_of(&dst, &r1), v1.config_digest);
}

/// `save -o` decodes layers in parallel into their places in the file and still checks each
/// against the config's diff_ids: a layer that is not what the config says fails the save in
/// one line naming it, for a file and for a pipe, and leaves no file behind.
#[test]
fn save_refuses_a_layer_that_is_not_its_diff_id() {
    let good = Layer::random("a.bin", 1_500_000, 21);
    let other = Layer::random("c.bin", 1_000_000, 23);
    let liar = Layer {
        diff_id: other.diff_id.clone(),
        ..Layer::random("b.bin", 2_000_000, 22)
    };
    let claimed = other.diff_id.clone();
    let image = ImageBuilder::new()
        .layer(good)
        .layer(liar)
        .layer(other)
        .build();
    let reg = Registry::start();
    let src = pulled(&reg, &[(&image, "demo/liar:1")]);
    let r = reg.reference("demo/liar:1");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("liar.tar");

    let out = std_imagectl(&src)
        .args(["save", "-o", file.to_str().unwrap(), &r])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("layer 1 hashes to") && err.contains("rootfs.diff_ids says"),
        "{err}"
    );
    assert!(err.contains(fixtures::hex_of(&claimed)), "{err}");
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "neither the archive nor a temp file is left"
    );
    let out = std_imagectl(&src).args(["save", &r]).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("layer 1 hashes to"), "{err}");
}
