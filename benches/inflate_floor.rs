//! The decode floor of a docker-archive save: every gzip layer given decoded at once, one
//! thread each, with the inflate implementation imagectl uses (flate2 on zlib-rs, the
//! same features), output discarded. A second pass also hashes (sha256), which the save
//! must do for its diff_id check. Prints `decode SECONDS` and `decode+sha256 SECONDS`.
//!
//!   cargo bench --bench inflate_floor -- LAYER.gz...

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::time::Instant;

use sha2::{Digest, Sha256};

fn decode_all(paths: &[String], hash: bool) -> io::Result<u64> {
    std::thread::scope(|scope| {
        let jobs: Vec<_> = paths
            .iter()
            .map(|p| {
                scope.spawn(move || -> io::Result<u64> {
                    let file = BufReader::with_capacity(1 << 20, File::open(p)?);
                    let mut d = flate2::read::MultiGzDecoder::new(file);
                    let mut buf = vec![0u8; 1 << 20];
                    let mut sha = Sha256::new();
                    let mut total = 0;
                    loop {
                        let n = d.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        if hash {
                            sha.update(&buf[..n]);
                        }
                        total += n as u64;
                    }
                    std::hint::black_box(sha.finalize());
                    Ok(total)
                })
            })
            .collect();
        jobs.into_iter()
            .map(|j| j.join().expect("a decoding thread panicked"))
            .sum()
    })
}

/// Two gzip files of known content decode to exactly their bytes, hashed or not.
fn self_check() -> io::Result<()> {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("inflate-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut paths = Vec::new();
    for i in 0..2u8 {
        let path = dir.join(format!("{i}.gz"));
        let mut gz =
            flate2::write::GzEncoder::new(File::create(&path)?, flate2::Compression::default());
        gz.write_all(&vec![i; 1 << 20])?;
        gz.finish()?;
        paths.push(path.to_string_lossy().into_owned());
    }
    let counts = (decode_all(&paths, false)?, decode_all(&paths, true)?);
    std::fs::remove_dir_all(&dir)?;
    assert_eq!(counts, (2 << 20, 2 << 20), "decoded byte counts");
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --all-targets FILTER` runs this with its test filter, not layers, and
    // without the `--bench` that `cargo bench` passes; benches/save.sh runs it outside cargo.
    let under_cargo_test =
        std::env::var_os("CARGO_MANIFEST_DIR").is_some() && !args.iter().any(|a| a == "--bench");
    let paths: Vec<String> = args
        .into_iter()
        .filter(|a| !a.starts_with("--") && !under_cargo_test)
        .collect();
    if paths.is_empty() {
        // `cargo test --all-targets` runs this without arguments: check that the decoding
        // counts what a gzip stream holds, then say how to use it.
        self_check()?;
        eprintln!(
            "inflate_floor: self-check ok; usage: cargo bench --bench inflate_floor -- LAYER.gz..."
        );
        return Ok(());
    }
    for (label, hash) in [("decode", false), ("decode+sha256", true)] {
        let start = Instant::now();
        let bytes = decode_all(&paths, hash)?;
        println!(
            "{label} {:.2} ({} layers, {bytes} bytes out)",
            start.elapsed().as_secs_f64(),
            paths.len()
        );
    }
    Ok(())
}
