//! The pure core stays pure: `oci/`, `plan/` and `policy/` (but for the one file that reads
//! policy files) perform no I/O and know nothing of registries, stores or the async
//! runtime (go-containerregistry's crane keeps a test like this).

use std::fs;
use std::path::Path;

const FORBIDDEN: [&str; 10] = [
    "crate::registry",
    "crate::store",
    "crate::exec",
    "tokio",
    "reqwest",
    "std::fs",
    "TcpStream",
    "UdpSocket",
    "std::process",
    "Timestamp::now",
];

fn check(module: &str, allowed: &[&str]) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(module);
    let mut checked = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if allowed.contains(&name.as_str()) {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        for f in FORBIDDEN {
            assert!(!text.contains(f), "{} mentions {f}", path.display());
        }
        checked += 1;
    }
    checked
}

/// No file under src/oci imports the registry client, a store, tokio, reqwest or std::fs.
#[test]
fn oci_module_imports_no_io() {
    assert!(check("oci", &[]) >= 5);
}

/// The planner is a pure function: no I/O and no clock reads (time is passed in).
#[test]
fn planner_is_pure() {
    assert!(check("plan", &[]) >= 4);
}

/// The policy module reads files in load.rs only; validation and tag selection are pure.
#[test]
fn policy_is_pure_but_for_loading() {
    assert!(check("policy", &["load.rs"]) >= 5);
}
