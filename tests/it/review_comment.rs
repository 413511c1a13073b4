//! The CI recipes' review comment (examples/ci): each pull or merge request gets one
//! comment, found again by its hidden marker and updated on every push, never another
//! workflow's or bot's. GitHub's and GitLab's comment APIs cannot run here, so a small
//! server below keeps comments the way their REST APIs do (list in pages, update by ID,
//! create); the steps run as the recipes write them, with bash, curl and jq.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

const MARKER: &str = "<!-- imagectl-review -->";

#[derive(Default)]
struct State {
    /// (id, body), oldest first.
    comments: Vec<(u64, String)>,
    /// (method, path with query, the auth header's value).
    requests: Vec<(String, String, String)>,
}

/// Comments of one pull request, served in pages of at most two (so the recipes' paging
/// is exercised) under GitHub's paths (`/repos/O/R/issues/N/comments`, `PATCH
/// /repos/O/R/issues/comments/ID`) and GitLab's (`/projects/P/merge_requests/N/notes`,
/// `PUT …/notes/ID`).
struct CommentServer {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl CommentServer {
    fn start(comments: &[&str]) -> CommentServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            comments: comments
                .iter()
                .enumerate()
                .map(|(i, b)| (i as u64 + 1, b.to_string()))
                .collect(),
            requests: Vec::new(),
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve(stream, &shared);
            }
        });
        CommentServer { port, state }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn comments(&self) -> Vec<(u64, String)> {
        self.state.lock().unwrap().comments.clone()
    }

    fn requests(&self) -> Vec<(String, String, String)> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let (mut length, mut auth) = (0usize, String::new());
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        if h.trim().is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        match k.to_ascii_lowercase().as_str() {
            "content-length" => length = v.trim().parse().unwrap(),
            "authorization" | "private-token" => auth = v.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let param = |k: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let mut s = state.lock().unwrap();
    s.requests.push((method.clone(), target.clone(), auth));
    let listing = path.ends_with("/comments") || path.ends_with("/notes");
    let (status, answer) = match method.as_str() {
        "GET" if listing => {
            let per = param("per_page").unwrap_or(30).min(2);
            let start = (param("page").unwrap_or(1) - 1) * per;
            let page: Vec<Value> = s
                .comments
                .iter()
                .skip(start)
                .take(per)
                .map(|(id, b)| json!({ "id": id, "body": b }))
                .collect();
            (200, json!(page))
        }
        "POST" if listing => {
            let text = serde_json::from_slice::<Value>(&body).unwrap()["body"]
                .as_str()
                .unwrap()
                .to_string();
            let id = s.comments.len() as u64 + 1;
            s.comments.push((id, text.clone()));
            (201, json!({ "id": id, "body": text }))
        }
        "PATCH" | "PUT" => {
            let id: u64 = path.rsplit('/').next().unwrap().parse().unwrap();
            let text = serde_json::from_slice::<Value>(&body).unwrap()["body"]
                .as_str()
                .unwrap()
                .to_string();
            match s.comments.iter_mut().find(|(i, _)| *i == id) {
                Some(c) => {
                    c.1 = text.clone();
                    (200, json!({ "id": id, "body": text }))
                }
                None => (404, json!({ "message": "Not Found" })),
            }
        }
        _ => (404, json!({ "message": "Not Found" })),
    };
    let answer = answer.to_string();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
}

/// A recipe from examples/ci, as a JSON value.
fn recipe(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/ci")
        .join(name);
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Run `command` with bash in a directory holding review.md (`review`) and the comment
/// script where the recipe copies it (`script_at`), with `env`.
fn run_step(command: &str, script_at: &str, review: &str, env: &[(&str, String)]) {
    // The step needs both: say so in one line rather than fail inside the script.
    for needed in ["curl", "jq"] {
        crate::support::tools::locate(needed).unwrap_or_else(|line| panic!("{line}"));
    }
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci/imagectl-comment.sh");
    let to = dir.path().join(script_at);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(script, to).unwrap();
    std::fs::write(dir.path().join("review.md"), review).unwrap();
    let out = std::process::Command::new("bash")
        .args(["-eo", "pipefail", "-c", command])
        .current_dir(dir.path())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{command}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The GitHub workflow's Comment step, as written.
fn github_step() -> String {
    let w = recipe("github-actions.yml");
    let steps = w["jobs"]["review"]["steps"].as_array().unwrap();
    let step = steps.iter().find(|s| s["name"] == "Comment").unwrap();
    step["run"].as_str().unwrap().to_string()
}

/// The GitLab job's line that posts the note, as written.
fn gitlab_line() -> String {
    let w = recipe("gitlab-ci.yml");
    let script = w["imagectl-review"]["script"].as_array().unwrap();
    let line = script
        .iter()
        .filter_map(Value::as_str)
        .find(|l| l.contains("review.md") && !l.contains("imagectl-review.sh"))
        .expect("a line posting review.md");
    line.to_string()
}

/// The GitHub workflow's Comment step updates the comment carrying its marker, although
/// another bot commented after it, leaves the other comments alone, and creates its comment
/// when a pull request has none yet (then updates that one on the next push).
#[test]
fn github_comment_step_updates_its_own_comment_only() {
    let other = "<!-- coverage-bot -->\nCoverage: 81%";
    let server = CommentServer::start(&[
        "LGTM",
        &format!("{MARKER}\n### imagectl diff\nthe previous push"),
        other,
    ]);
    let env = [
        ("GITHUB_API_URL", server.url()),
        ("GITHUB_REPOSITORY", "org/policies".to_string()),
        ("GH_TOKEN", "gh-token".to_string()),
        ("PR", "7".to_string()),
    ];
    let step = github_step();
    run_step(
        &step,
        "head/.github/imagectl-comment.sh",
        "### imagectl diff\nthis push\n",
        &env,
    );
    assert_eq!(
        server.comments(),
        [
            (1, "LGTM".to_string()),
            (2, format!("{MARKER}\n### imagectl diff\nthis push\n")),
            (3, other.to_string()),
        ]
    );
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|(_, _, auth)| auth == "Bearer gh-token"),
        "{requests:?}"
    );
    assert_eq!(
        requests
            .iter()
            .filter(|(m, _, _)| m != "GET")
            .map(|(m, p, _)| (m.as_str(), p.as_str()))
            .collect::<Vec<_>>(),
        [("PATCH", "/repos/org/policies/issues/comments/2")]
    );

    let fresh = CommentServer::start(&[other]);
    let env = [
        ("GITHUB_API_URL", fresh.url()),
        env[1].clone(),
        env[2].clone(),
        env[3].clone(),
    ];
    run_step(&step, "head/.github/imagectl-comment.sh", "first\n", &env);
    run_step(&step, "head/.github/imagectl-comment.sh", "second\n", &env);
    assert_eq!(
        fresh.comments(),
        [(1, other.to_string()), (2, format!("{MARKER}\nsecond\n"))]
    );
}

/// The GitLab job updates the note carrying its marker instead of adding a note per push,
/// and leaves another bot's later note alone.
#[test]
fn gitlab_note_line_updates_its_own_note_only() {
    let other = "<!-- other-bot -->\nDeploy preview ready";
    let server = CommentServer::start(&[
        &format!("{MARKER}\nthe previous push"),
        "please look at prune",
        other,
    ]);
    let env = [
        ("CI_API_V4_URL", format!("{}/api/v4", server.url())),
        ("CI_PROJECT_ID", "3".to_string()),
        ("CI_MERGE_REQUEST_IID", "7".to_string()),
        ("IMAGECTL_REVIEW_TOKEN", "gl-token".to_string()),
    ];
    run_step(
        &gitlab_line(),
        "ci/imagectl-comment.sh",
        "this push\n",
        &env,
    );
    assert_eq!(
        server.comments(),
        [
            (1, format!("{MARKER}\nthis push\n")),
            (2, "please look at prune".to_string()),
            (3, other.to_string()),
        ]
    );
    let writes: Vec<(String, String, String)> = server
        .requests()
        .into_iter()
        .filter(|(m, _, _)| m != "GET")
        .collect();
    assert_eq!(
        writes,
        [(
            "PUT".to_string(),
            "/api/v4/projects/3/merge_requests/7/notes/1".to_string(),
            "gl-token".to_string()
        )]
    );
}
