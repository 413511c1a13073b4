//! The pure core stays pure: `oci/` performs no I/O and knows nothing of registries,
//! stores or the async runtime (go-containerregistry's crane keeps a test like this).

use std::fs;
use std::path::Path;

/// No file under src/oci imports the registry client, a store, tokio, reqwest or std::fs.
#[test]
fn oci_module_imports_no_io() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/oci");
    let forbidden = [
        "crate::registry",
        "crate::store",
        "crate::exec",
        "tokio",
        "reqwest",
        "std::fs",
        "TcpStream",
        "UdpSocket",
        "std::process",
    ];
    let mut checked = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        for f in forbidden {
            assert!(!text.contains(f), "{} mentions {f}", path.display());
        }
        checked += 1;
    }
    assert!(
        checked >= 5,
        "expected the oci module's files, found {checked}"
    );
}
