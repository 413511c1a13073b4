//! The example policies (files, the gitops directory, the Kubernetes ConfigMaps, the design
//! document's) validate, and the JSON Schema describes the format.

use super::*;

/// Every Kubernetes example passes the API schemas offline (`kubernetes-validate --strict`),
/// and the policies its ConfigMaps carry pass `imagectl validate`.
#[test]
fn kubernetes_examples_validate() {
    let sc = Scenario::new();
    let dir = repo_path("examples/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    let out = crate::support::tools::tool("kubernetes-validate")
        .arg("--strict")
        .args(&files)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!said.contains("WARN") && !said.contains("ERROR"), "{said}");
    let mut policies = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // A ConfigMap's `policy.yaml: |` block, its indentation removed.
        let mut lines = text
            .lines()
            .skip_while(|l| !l.trim_end().ends_with("policy.yaml: |"));
        if lines.next().is_none() {
            continue;
        }
        let body: Vec<&str> = lines
            .take_while(|l| l.starts_with("    ") || l.trim().is_empty())
            .collect();
        let policy = body
            .iter()
            .map(|l| l.get(4..).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let path = sc.env().root.path().join(format!("policy-{policies}.yaml"));
        std::fs::write(&path, policy + "\n").unwrap();
        let out = validate(&sc, &path);
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        policies += 1;
    }
    assert!(policies >= 1, "no ConfigMap policy found");
}

/// Every example policy under policies/ (files and the gitops directory) validates.
#[test]
fn examples_validate() {
    let sc = Scenario::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(repo_path("policies")).unwrap() {
        let p = entry.unwrap().path();
        let is_yaml = p.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if !(is_yaml || p.is_dir()) {
            continue;
        }
        let out = validate(&sc, &p);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.starts_with(&format!("{}: ok (", p.display())),
            "{stdout}"
        );
        checked += 1;
    }
    assert!(checked >= 5, "found {checked} examples");
    let out = validate(&sc, &repo_path("policies/gitops"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "{}: ok (4 images, 1 registries)",
            repo_path("policies/gitops").display()
        )
    );
}

const DESIGN: &str = r#"version: 1
store: { path: /var/lib/imagectl }
registries:
  "harbor.internal:30002": { insecure: true, username: ci, password_env: HARBOR_PASSWORD }
defaults: { platforms: [linux/amd64] }
images:
  - name: nginx                               # docker.io/library/nginx
    tags: ["1.23", "1.25-alpine"]
  - name: harbor.internal:30002/app/api
    match: '^v\d+\.\d+\.\d+$'                 # or semver: ">=1.2, <2"
    keep: 3                                   # newest 3 matching tags (by semver, created or name)
  - name: busybox@DIGEST                      # pinned digest
    also_tag: ["registry.local/base/busybox:stable"]
prune:
  dangling: true                              # untagged images and unreferenced blobs
  unmanaged: keep                             # keep | remove images no entry declares
  keep_within: 72h                            # never remove what was pulled or used this recently
  max_disk: 20GiB                             # evict least recently used above this
  max_removals: 50                            # refuse a run that would remove more
schedule: "0 */6 * * *"                       # for `imagectl run`
"#;

/// The design document's example policy loads, with `mirrors:` and a `replicate:` target.
#[test]
fn design_example() {
    let sc = Scenario::new();
    let file = sc.write("design.yaml", &DESIGN.replace("DIGEST", DIGEST));
    let out = validate(&sc, &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{}: ok (3 images, 1 registries)", file.display())
    );
    let with_mirrors = DESIGN.replace("DIGEST", DIGEST).replace(
        "registries:\n",
        "registries:\n  docker.io: { mirrors: [\"https://mirror.gcr.io\"] }\n",
    ) + "replicate:\n  - to: harbor.internal:30002/mirror\n    platforms: [linux/amd64]\n";
    let file = sc.write("design-replicate.yaml", &with_mirrors);
    let out = validate(&sc, &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `imagectl schema` prints a JSON Schema that forbids unknown keys and knows every section.
#[test]
fn schema_describes_the_format() {
    let sc = Scenario::new();
    let out = sc.imagectl().arg("schema").output().unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], serde_json::json!(["version"]));
    for key in [
        "version",
        "store",
        "registries",
        "defaults",
        "images",
        "prune",
        "schedule",
    ] {
        assert!(schema["properties"].get(key).is_some(), "{key}");
    }
    assert_eq!(schema["$defs"]["Image"]["additionalProperties"], false);
    assert!(
        schema["$defs"]["Registry"]["properties"]
            .get("password")
            .is_none()
    );
}

/// The committed `imagectl.schema.json` (which the example policies point editors at) is
/// what `imagectl schema` prints: regenerate it with `imagectl schema > imagectl.schema.json`.
#[test]
fn committed_schema_is_current() {
    let sc = Scenario::new();
    let out = sc.imagectl().arg("schema").output().unwrap();
    assert!(out.status.success());
    let committed = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("imagectl.schema.json"),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&committed),
        "imagectl.schema.json is stale: run `imagectl schema > imagectl.schema.json`"
    );
}
