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

/// Every `.rs` file under `src/MODULE`, at any depth.
fn sources(module: &str) -> Vec<std::path::PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(module),
        &mut out,
    );
    out
}

/// Asserts no file of `module` (but `allowed` ones) mentions any of `forbidden`; returns
/// how many files were checked.
fn check_for(module: &str, allowed: &[&str], forbidden: &[&str]) -> usize {
    let mut checked = 0;
    for path in sources(module) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if allowed.contains(&name.as_str()) {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        // Unit tests may build a concrete store to test against.
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        for f in forbidden {
            assert!(!text.contains(f), "{} mentions {f}", path.display());
        }
        checked += 1;
    }
    checked
}

fn check(module: &str, allowed: &[&str]) -> usize {
    check_for(module, allowed, &FORBIDDEN)
}

/// No file under src/oci imports the registry client, a store, tokio, reqwest or std::fs.
#[test]
fn oci_module_imports_no_io() {
    assert!(check("oci", &[]) >= 5);
}

/// The image walker knows media only through the `ImageSource` trait: no registry, store,
/// archive or I/O of its own, so a new medium is one trait impl.
#[test]
fn image_walker_knows_no_medium() {
    assert!(
        check_for(
            "image",
            &[],
            &[&FORBIDDEN[..], &["crate::archive"]].concat()
        ) >= 4
    );
}

/// The planner is a pure function: no I/O and no clock reads (time is passed in).
#[test]
fn planner_is_pure() {
    assert!(check("plan", &[]) >= 4);
}

/// Review (policy diffs, their renderings) is computed from expansions and plans passed
/// in: no I/O, no clock, no store or registry.
#[test]
fn review_is_pure() {
    assert!(
        check_for(
            "review",
            &[],
            &[&FORBIDDEN[..], &["crate::report"]].concat()
        ) >= 4
    );
}

/// The policy module reads files in load.rs only; validation and tag selection are pure.
#[test]
fn policy_is_pure_but_for_loading() {
    assert!(check("policy", &["load.rs"]) >= 5);
}

/// Only `store/` names a store backend: commands, the executor, the archive code and the
/// planner go through the store seam (`store::open` picks the backend).
#[test]
fn only_the_store_names_a_backend() {
    let backends = [
        "LayoutStore",
        "store::layout",
        "DockerStore",
        "store::docker",
        "EmbeddedStore",
        "bollard",
    ];
    let checked: usize = [
        "cli", "exec", "archive", "plan", "policy", "report", "registry",
    ]
    .iter()
    .map(|m| check_for(m, &[], &backends))
    .sum();
    assert!(checked >= 60, "{checked}");
}
