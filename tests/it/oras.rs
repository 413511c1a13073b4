//! oras (Debian sid's 1.3, unpacked by `scripts/engines.sh sid`) as an independent writer and
//! reader of referrers: what `oras attach` leaves on a distribution registry (the fallback
//! tag schema) replication carries, and `oras discover` at the target finds the same tree.

use std::path::Path;
use std::process::Command;

use crate::support::containerd::sid_dir;
use crate::support::fixtures::app_image;
use crate::support::output::stdout_ok_as;
use crate::support::{MediaFormat, Registry, Scenario};

/// `oras ARGS` run in `dir` (attach names its files relative to it), stdout on success.
fn oras(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(sid_dir().join("usr/bin/oras"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .output()
        .expect("run oras");
    stdout_ok_as(&out, &format!("oras {args:?}"))
}

/// `oras attach` of `file` (holding `text`) as `artifact_type` to `subject`; its digest.
fn attach(dir: &Path, subject: &str, artifact_type: &str, file: &str, text: &str) -> String {
    std::fs::write(dir.join(file), text).unwrap();
    let out = oras(
        dir,
        &[
            "attach",
            "--plain-http",
            "--artifact-type",
            artifact_type,
            "--format",
            "go-template={{.digest}}",
            subject,
            file,
        ],
    );
    out.trim().to_string()
}

/// The referrer tree `oras discover` finds below `reference`: (depth, artifact type, digest).
fn discovered(dir: &Path, reference: &str) -> Vec<(usize, String, String)> {
    let out = oras(
        dir,
        &["discover", "--plain-http", "--format", "json", reference],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let mut found = Vec::new();
    let mut stack = vec![(1, &v)];
    while let Some((depth, node)) = stack.pop() {
        for r in node["referrers"].as_array().into_iter().flatten() {
            found.push((
                depth,
                r["artifactType"].as_str().unwrap_or_default().to_string(),
                r["digest"].as_str().unwrap_or_default().to_string(),
            ));
            stack.push((depth + 1, r));
        }
    }
    found.sort();
    found
}

/// An SBOM and a signature of it, attached by oras at the source, reach the target with
/// their digests through replication, and oras discovers there the tree it wrote.
#[test]
fn referrers_oras_attached_are_replicated_and_oras_discovers_them() {
    let sc = Scenario::new()
        .registry()
        .target()
        .image("team/app:1.0", &app_image("1.0", MediaFormat::Oci))
        .policy("version: 1\nimages:\n  - name: {registry}/team/app\n    tags: [\"1.0\"]\nreplicate:\n  - to: {target}/mirror\n");
    let (src, dst): (&Registry, &Registry) = (sc.reg(), sc.dst());
    let work = tempfile::tempdir().unwrap();
    let image = format!("{}/team/app@{}", src.host(), sc.digest("team/app:1.0"));
    let sbom = attach(
        work.path(),
        &image,
        "application/spdx+json",
        "sbom.json",
        "{}",
    );
    let of_sbom = format!("{}/team/app@{sbom}", src.host());
    let sig = attach(
        work.path(),
        &of_sbom,
        "application/vnd.example.signature.v1",
        "sig.txt",
        "signed",
    );
    let at_source = discovered(work.path(), &image);
    assert_eq!(at_source.len(), 2, "{at_source:?}");

    let out = sc.ok(&["apply", "--yes", "-f", sc.policy_arg()]);
    assert!(
        out.contains("Referrers (signatures, attestations):"),
        "{out}"
    );
    let replica = format!("{}/mirror/team/app:1.0", dst.host());
    assert_eq!(discovered(work.path(), &replica), at_source, "{out}");
    assert_eq!(
        dst.manifest_digest("mirror/team/app", &sig).as_deref(),
        Some(sig.as_str())
    );
}
