//! Prometheus exposition parsed by the reference parsers: Python's `prometheus_client`
//! (its OpenMetrics parser for a scrape, its classic text parser for a textfile), so a
//! test proves what Prometheus and node_exporter will accept, not what imagectl meant.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// One sample.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// The family's type (`counter`, `gauge`, …).
    pub kind: String,
}

const SCRIPT: &str = r#"
import json, sys
try:
    from prometheus_client.parser import text_string_to_metric_families as classic
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
except ImportError:
    print("python3's prometheus_client is not installed, and this test parses metrics with it: run scripts/test.sh (it installs it), or `pip install prometheus_client`", file=sys.stderr)
    sys.exit(3)
parse = om if sys.argv[1] == "openmetrics" else classic
out = []
for fam in parse(sys.stdin.read()):
    for s in fam.samples:
        out.append({"name": s.name, "labels": s.labels, "value": s.value, "kind": fam.type})
print(json.dumps(out))
"#;

/// Parse `text` as OpenMetrics (`openmetrics`) or the classic text format; panics with the
/// parser's complaint when it refuses the text.
pub fn parse(text: &str, openmetrics: bool) -> Vec<Sample> {
    // Debian's python3-prometheus-client installs for the system interpreter, which a
    // pyenv or virtualenv python3 earlier on PATH does not see.
    let python = super::tools::locate("/usr/bin/python3")
        .or_else(|_| super::tools::locate("python3"))
        .unwrap_or_else(|l| panic!("{l}"));
    let mut child = Command::new(python)
        .args([
            "-c",
            SCRIPT,
            if openmetrics { "openmetrics" } else { "text" },
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    v.into_iter()
        .map(|s| Sample {
            name: s["name"].as_str().unwrap().to_string(),
            labels: s["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect(),
            value: s["value"].as_f64().unwrap(),
            kind: s["kind"].as_str().unwrap().to_string(),
        })
        .collect()
}

/// The value of the sample `name` with exactly these labels.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// The sum of every sample `name` whatever its labels.
pub fn sum(samples: &[Sample], name: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .sum()
}
