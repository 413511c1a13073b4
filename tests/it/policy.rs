//! Policy files: `imagectl validate -f PATH` accepts every example under policies/ and the
//! design's example, and refuses malformed or dangerous policies with one
//! `error: FILE:LINE:COLUMN: KEY: MESSAGE` line per problem and exit 1.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::{RunExt as _, Scenario};

mod examples;
mod inputs;
mod registries;
mod shape;

const DIGEST: &str = "sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7";

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn validate(sc: &Scenario, path: &Path) -> Output {
    sc.imagectl().args(["validate", "-f"]).arg(path).capture()
}

/// The `error:` lines of a failed validation (asserting exit 1 and no panic), prefix removed.
fn errors(out: &Output) -> Vec<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1; stdout: {} stderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty(), "stdout on failure: {:?}", out.stdout);
    let lines: Vec<String> = stderr
        .lines()
        .map(|l| {
            l.strip_prefix("error: ")
                .unwrap_or_else(|| panic!("line without `error: `: {l:?}"))
                .to_string()
        })
        .collect();
    assert!(!lines.is_empty());
    lines
}

/// One expected error: `FILE:LINE:COLUMN` suffix (or "" for a positionless one), key, gist.
type Want = (&'static str, &'static str, &'static str);

/// Validates `yaml` as a file and asserts exactly the `want` errors, in order.
fn assert_errors(sc: &Scenario, case: &str, yaml: &str, want: &[Want]) {
    let file = sc.write(&format!("{case}.yaml"), yaml);
    let got = errors(&validate(sc, &file));
    assert_errors_in(&file, case, &got, want);
}

fn assert_errors_in(file: &Path, case: &str, got: &[String], want: &[Want]) {
    assert_eq!(got.len(), want.len(), "{case}: got {got:#?}");
    for (line, (pos, key, gist)) in got.iter().zip(want) {
        let prefix = if pos.is_empty() {
            format!("{}: {key}: ", file.display())
        } else {
            format!("{}:{pos}: {key}: ", file.display())
        };
        assert!(
            line.starts_with(&prefix),
            "{case}: want prefix {prefix:?} in {line:?}"
        );
        assert!(line.contains(gist), "{case}: want {gist:?} in {line:?}");
    }
}
